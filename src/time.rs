//! Timestamps are whole seconds since the Unix epoch (UTC) everywhere; they are shown in the
//! configured time zone (a fixed offset: Europe/Moscow is UTC+3 all year).

/// Minutes east of UTC used when nothing else is configured (Europe/Moscow).
pub const DEFAULT_UTC_OFFSET_MINUTES: i32 = 180;

/// Seconds since the epoch, now.
#[cfg(feature = "ssr")]
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The time the server acts at: the system clock, shifted only by the month simulator
/// (`suz simulate-month`), which replays a past month through the real services. Shared by
/// the app and the embedded sandbox provider.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Default)]
pub struct Clock(std::sync::Arc<std::sync::atomic::AtomicI64>);

#[cfg(feature = "ssr")]
impl Clock {
    pub fn now(&self) -> i64 {
        now() + self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes `now()` read `at` from this moment on.
    pub fn set(&self, at: i64) {
        self.0
            .store(at - now(), std::sync::atomic::Ordering::Relaxed);
    }
}

/// Calendar date and time of a timestamp at a UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl LocalDateTime {
    pub fn from_unix(ts: i64, offset_minutes: i32) -> Self {
        let local = ts + i64::from(offset_minutes) * 60;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        LocalDateTime {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: ((secs % 3600) / 60) as u32,
            second: (secs % 60) as u32,
        }
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `27.11.2026 08:05`
pub fn format_datetime(ts: i64, offset_minutes: i32) -> String {
    let t = LocalDateTime::from_unix(ts, offset_minutes);
    format!(
        "{:02}.{:02}.{} {:02}:{:02}",
        t.day, t.month, t.year, t.hour, t.minute
    )
}

/// `27.11.2026`
pub fn format_date(ts: i64, offset_minutes: i32) -> String {
    let t = LocalDateTime::from_unix(ts, offset_minutes);
    format!("{:02}.{:02}.{}", t.day, t.month, t.year)
}

/// Parses `YYYY-MM-DD` (an HTML date input) into the timestamp of local midnight.
pub fn parse_date_input(s: &str, offset_minutes: i32) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    // Four-digit years only: a typed year of 10^15 would overflow the day arithmetic.
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return None;
    }
    Some(days * 86_400 - i64::from(offset_minutes) * 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_moscow_time() {
        // 2026-11-27 05:00:41 UTC
        assert_eq!(format_datetime(1_795_755_641, 180), "27.11.2026 08:00");
        assert_eq!(format_date(0, 0), "01.01.1970");
        assert_eq!(format_datetime(-1, 0), "31.12.1969 23:59");
    }

    #[test]
    fn parses_date_inputs() {
        assert_eq!(parse_date_input("1970-01-02", 0), Some(86_400));
        assert_eq!(
            parse_date_input("2026-11-27", 180),
            Some(1_795_737_600 - 10_800)
        );
        assert_eq!(parse_date_input("2026-02-30", 180), None);
        assert_eq!(parse_date_input("2026-13-01", 180), None);
        assert_eq!(parse_date_input("вчера", 180), None);
    }

    proptest! {
        #[test]
        fn civil_round_trip(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
