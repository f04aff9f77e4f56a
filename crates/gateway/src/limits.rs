//! Per-client-IP stream limit (ZooKeeper's `maxClientCnxns`).
//!
//! Counts open session streams per IP address; a permit is held for a stream's whole life and
//! gives its slot back when dropped. 0 means unlimited. A stream without a known peer address
//! (not TCP) is not counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use paddock_types::ErrorCode;
use tonic::{Code, Status};

use crate::status::with_code;

type Counts = Arc<Mutex<HashMap<IpAddr, u32>>>;

/// Hands out at most `max` permits per IP at a time.
#[derive(Clone, Debug)]
pub(crate) struct ConnLimiter {
    max: u32,
    counts: Counts,
}

/// One open stream's slot; released on drop.
#[derive(Debug)]
pub(crate) struct ConnPermit {
    ip: IpAddr,
    counts: Counts,
}

impl ConnLimiter {
    pub(crate) fn new(max_per_ip: u32) -> ConnLimiter {
        ConnLimiter {
            max: max_per_ip,
            counts: Arc::default(),
        }
    }

    /// A permit for one more stream from `ip`, or RESOURCE_EXHAUSTED (Throttled) at the limit.
    pub(crate) fn acquire(&self, ip: Option<IpAddr>) -> Result<Option<ConnPermit>, Status> {
        let Some(ip) = ip.filter(|_| self.max > 0) else {
            return Ok(None);
        };
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return Err(with_code(
                Code::ResourceExhausted,
                format!(
                    "too many streams from {ip}: the limit is {} (maxClientCnxns)",
                    self.max
                ),
                ErrorCode::Throttled,
            ));
        }
        *n += 1;
        Ok(Some(ConnPermit {
            ip,
            counts: Arc::clone(&self.counts),
        }))
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::error_code_of;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn refuses_past_the_limit_per_ip_and_frees_on_drop() {
        let l = ConnLimiter::new(2);
        let p1 = l.acquire(A).expect("1st");
        let _p2 = l.acquire(A).expect("2nd");
        let refused = l.acquire(A).expect_err("3rd from the same IP");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert_eq!(error_code_of(&refused), Some(ErrorCode::Throttled));
        assert!(l.acquire(B).is_ok(), "other IPs are counted apart");
        drop(p1);
        assert!(l.acquire(A).is_ok(), "a dropped permit frees its slot");
    }

    #[test]
    fn zero_means_unlimited_and_unknown_peers_are_not_counted() {
        let l = ConnLimiter::new(0);
        let permits: Vec<_> = (0..100).map(|_| l.acquire(A).expect("unlimited")).collect();
        assert!(permits.iter().all(Option::is_none));
        let l = ConnLimiter::new(1);
        assert!(l.acquire(None).expect("no peer").is_none());
        assert!(l.acquire(None).expect("no peer").is_none());
    }
}
