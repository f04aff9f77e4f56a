//! Wall-clock times as text, the same on every machine (UTC), for the places that print them:
//! zkCli's `stat` and the `dump` word (Java's `Date.toString()`), the offline dumps (RFC 3339).

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A time split into its civil fields (UTC, proleptic Gregorian).
struct Civil {
    year: i64,
    month: usize,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
    weekday: usize,
}

fn civil(ms: i64) -> Civil {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    Civil {
        year: yoe + era * 400 + i64::from(month <= 2),
        month: month as usize,
        day,
        hour: sod / 3600,
        minute: sod % 3600 / 60,
        second: sod % 60,
        milli: ms.rem_euclid(1000),
        weekday: days.rem_euclid(7) as usize,
    }
}

/// Java's `Date.toString()` (`EEE MMM dd HH:mm:ss zzz yyyy`) of `ms` since the epoch, in UTC:
/// `Sun Nov 22 01:13:50 UTC 2026`.
pub fn java_date(ms: i64) -> String {
    let c = civil(ms);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[c.weekday],
        MONTHS[c.month - 1],
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year
    )
}

/// RFC 3339 in UTC with milliseconds: `2026-12-06T06:25:00.000Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let c = civil(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_dates() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_795_310_030_123), "Sun Nov 22 01:13:50 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(java_date(-1), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_780_000_000_123), "2026-05-28T20:26:40.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
