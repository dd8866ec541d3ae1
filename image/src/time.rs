//! Calendar arithmetic for the timestamps disc file systems record.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds of a local time `offset_minutes` east of UTC; None for impossible fields
/// (a zeroed timestamp, month 13) rather than a made-up date.
pub(crate) fn unix(
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    offset_minutes: i64,
) -> Option<i64> {
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || !(1..=9999).contains(&year)
    {
        return None;
    }
    let days = days_from_civil(year, i64::from(month), i64::from(day));
    Some(
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
            - offset_minutes * 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(unix(1970, 1, 1, 0, 0, 0, 0), Some(0));
        assert_eq!(unix(2000, 3, 1, 0, 0, 0, 0), Some(951_868_800));
        assert_eq!(unix(2024, 2, 29, 12, 0, 0, 480), Some(1_709_179_200));
        assert_eq!(unix(2024, 0, 1, 0, 0, 0, 0), None);
    }
}
