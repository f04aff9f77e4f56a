//! Which host names a certificate carries, and whether it names a given host: DNS SANs, IP
//! SANs, and the CN only when there is neither (RFC 6125; ZooKeeper's `ZKHostnameVerifier`).
//! Used by the accepting side of server-to-server TLS ([`crate::peer`]).

use std::fmt;
use std::net::IpAddr;

/// The names a certificate is issued for, as far as host checks are concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertNames {
    /// `subjectAltName` DNS names.
    pub dns: Vec<String>,
    /// `subjectAltName` IP addresses.
    pub ips: Vec<IpAddr>,
    /// The subject's common names.
    pub common_names: Vec<String>,
}

impl CertNames {
    /// The names of a DER certificate; `Err` if it does not parse.
    pub fn of(der: &[u8]) -> Result<CertNames, String> {
        use x509_parser::extensions::GeneralName;
        use x509_parser::prelude::*;
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("the certificate does not parse: {e}"))?;
        let mut names = CertNames::default();
        let san = cert
            .subject_alternative_name()
            .map_err(|e| format!("its subjectAltName does not parse: {e}"))?;
        for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(dns) => names.dns.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        names.ips.push(ip);
                    }
                }
                _ => {}
            }
        }
        names.common_names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect();
        Ok(names)
    }

    /// Whether these names include `host` (a DNS name or an IP address): an IP host must be an
    /// IP SAN; a DNS host a DNS SAN (`*.example.com` matches one leftmost label); the CN counts
    /// only when the certificate has no DNS or IP SAN at all (RFC 6125; ZooKeeper's
    /// `ZKHostnameVerifier`).
    pub fn names(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        if self.dns.is_empty() && self.ips.is_empty() {
            return self
                .common_names
                .iter()
                .any(|cn| match host.parse::<IpAddr>() {
                    Ok(ip) => cn.parse::<IpAddr>() == Ok(ip),
                    Err(_) => dns_matches(cn, host),
                });
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => self.ips.contains(&ip),
            Err(_) => self.dns.iter().any(|pattern| dns_matches(pattern, host)),
        }
    }
}

impl fmt::Display for CertNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut all: Vec<String> = self.dns.iter().map(|d| format!("DNS:{d}")).collect();
        all.extend(self.ips.iter().map(|ip| format!("IP:{ip}")));
        if all.is_empty() {
            let cns: Vec<String> = self
                .common_names
                .iter()
                .map(|c| format!("CN={c}"))
                .collect();
            if cns.is_empty() {
                return f.write_str("no name at all");
            }
            return write!(f, "{} (no subjectAltName)", cns.join(", "));
        }
        f.write_str(&all.join(", "))
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// Case-insensitive DNS name match; a `*` is allowed as the whole leftmost label of `pattern`
/// and matches exactly one non-empty label of `host`.
fn dns_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    if host.is_empty() || pattern.is_empty() {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(rest) => match host.split_once('.') {
            Some((label, host_rest)) => {
                !label.is_empty() && !rest.is_empty() && host_rest.eq_ignore_ascii_case(rest)
            }
            None => false,
        },
        None => pattern.eq_ignore_ascii_case(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_certs::Ca;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("a certificate")
    }

    fn names_of(ca: &Ca, cn: &str, sans: &[&str]) -> CertNames {
        CertNames::of(&der(&ca.server(cn, sans).expect("cert").cert_pem)).expect("parses")
    }

    #[test]
    fn a_dns_san_names_its_host_case_insensitively() {
        let ca = Ca::new("ca").unwrap();
        let n = names_of(&ca, "ignored.example", &["zk1.example.com", "localhost"]);
        assert_eq!(n.dns, vec!["zk1.example.com", "localhost"]);
        assert!(n.names("zk1.example.com"));
        assert!(n.names("ZK1.Example.COM"));
        assert!(n.names("zk1.example.com."));
        assert!(n.names("localhost"));
        assert!(!n.names("zk2.example.com"));
        // With SANs, the CN does not count.
        assert!(!n.names("ignored.example"));
        // A DNS SAN never names an IP address.
        assert!(!n.names("127.0.0.1"));
    }

    #[test]
    fn an_ip_san_names_its_address() {
        let ca = Ca::new("ca").unwrap();
        let n = names_of(&ca, "10.0.0.7", &["10.0.0.7", "::1"]);
        assert!(n.names("10.0.0.7"));
        assert!(n.names("::1"));
        assert!(n.names("0:0:0:0:0:0:0:1"));
        assert!(!n.names("10.0.0.8"));
        assert!(!n.names("localhost"));
        assert_eq!(n.to_string(), "IP:10.0.0.7, IP:::1");
    }

    #[test]
    fn the_cn_counts_only_without_dns_or_ip_sans() {
        let ca = Ca::new("ca").unwrap();
        let n = names_of(&ca, "zk3.example.com", &[]);
        assert!(n.dns.is_empty() && n.ips.is_empty());
        assert!(n.names("zk3.example.com"));
        assert!(n.names("ZK3.example.com"));
        assert!(!n.names("zk1.example.com"));
        assert_eq!(n.to_string(), "CN=zk3.example.com (no subjectAltName)");
        let ip = names_of(&ca, "192.168.1.3", &[]);
        assert!(ip.names("192.168.1.3"));
        assert!(!ip.names("192.168.1.4"));
    }

    #[test]
    fn wildcards_cover_one_leftmost_label() {
        assert!(dns_matches("*.example.com", "zk1.example.com"));
        assert!(!dns_matches("*.example.com", "a.zk1.example.com"));
        assert!(!dns_matches("*.example.com", "example.com"));
        assert!(!dns_matches("*.example.com", ".example.com"));
        assert!(!dns_matches("zk*.example.com", "zk1.example.com"));
        assert!(!dns_matches("", "x"));
    }
}
