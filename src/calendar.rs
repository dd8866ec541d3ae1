//! The days and months of the service's statistics (UTC) as types. Their text forms —
//! `YYYY-MM-DD` and `YYYY-MM` — are what the database keys, the dashboards and COUNTER
//! reports use; nothing slices them.

use std::fmt;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN: i64 = 2_440_588;

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Now, in Unix seconds: what the database's timestamps hold.
pub fn now_secs() -> i64 {
    now_ms().div_euclid(1000)
}

/// A day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(time::Date);

/// A month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: time::Month,
}

impl Day {
    /// The day a moment (Unix milliseconds) falls on. Moments outside years −9999..9999 are
    /// clamped to the first or last representable day.
    pub fn of_ms(ts_ms: i64) -> Self {
        let julian = ts_ms.div_euclid(DAY_MS) + UNIX_EPOCH_JULIAN;
        let date = i32::try_from(julian)
            .ok()
            .and_then(|j| time::Date::from_julian_day(j).ok())
            .unwrap_or(if julian < 0 {
                time::Date::MIN
            } else {
                time::Date::MAX
            });
        Self(date)
    }

    /// The day a moment (Unix seconds) falls on.
    pub fn of_secs(secs: i64) -> Self {
        Self::of_ms(secs.saturating_mul(1000))
    }

    /// Today.
    pub fn today() -> Self {
        Self::of_ms(now_ms())
    }

    /// The day of a calendar date, if it exists.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Option<Self> {
        let month = time::Month::try_from(month).ok()?;
        time::Date::from_calendar_date(year, month, day)
            .ok()
            .map(Self)
    }

    /// A `YYYY-MM-DD` day; anything else (another shape, a day that does not exist) is None.
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let digits = |r: std::ops::Range<usize>| {
            text.get(r)
                .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
        };
        Self::from_ymd(
            digits(0..4)?.parse().ok()?,
            digits(5..7)?.parse().ok()?,
            digits(8..10)?.parse().ok()?,
        )
    }

    /// The first moment of the day, in Unix milliseconds.
    pub fn start_ms(self) -> i64 {
        (i64::from(self.0.to_julian_day()) - UNIX_EPOCH_JULIAN) * DAY_MS
    }

    /// The day after (the same day at the end of the calendar).
    pub fn next(self) -> Self {
        Self(self.0.next_day().unwrap_or(self.0))
    }

    /// The day before (the same day at the start of the calendar).
    pub fn prev(self) -> Self {
        Self(self.0.previous_day().unwrap_or(self.0))
    }

    pub fn month(self) -> Month {
        Month {
            year: self.0.year(),
            month: self.0.month(),
        }
    }

    pub fn year(self) -> i32 {
        self.0.year()
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

impl Month {
    /// This month.
    pub fn current() -> Self {
        Day::today().month()
    }

    /// A `YYYY-MM` month, or the month of a `YYYY-MM-DD` day.
    pub fn parse(text: &str) -> Option<Self> {
        match text.len() {
            7 => Day::parse(&format!("{text}-01")).map(Day::month),
            10 => Day::parse(text).map(Day::month),
            _ => None,
        }
    }

    pub fn first_day(self) -> Day {
        Day(time::Date::from_calendar_date(self.year, self.month, 1).unwrap_or(time::Date::MIN))
    }

    pub fn last_day(self) -> Day {
        self.next().first_day().prev()
    }

    pub fn next(self) -> Self {
        let month = self.month.next();
        let year = if month == time::Month::January {
            self.year + 1
        } else {
            self.year
        };
        Self { year, month }
    }

    pub fn prev(self) -> Self {
        let month = self.month.previous();
        let year = if month == time::Month::December {
            self.year - 1
        } else {
            self.year
        };
        Self { year, month }
    }

    /// The month `n` months before this one.
    pub fn back(self, n: u32) -> Self {
        (0..n).fold(self, |m, _| m.prev())
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The consortium's time zone (`stats.time_zone`): where its days and months begin for the
/// statistics, COUNTER reports and every date pages show. An IANA name (`Asia/Shanghai`,
/// from the tz database built into the binary), `UTC`, or a fixed offset (`+08:00`).
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: jiff::tz::TimeZone,
}

impl Default for Zone {
    fn default() -> Self {
        Self {
            name: "UTC".into(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }
}

impl Zone {
    pub fn parse(name: &str) -> Result<Self, String> {
        let name = name.trim();
        let tz = if name.eq_ignore_ascii_case("utc") || name == "Z" {
            jiff::tz::TimeZone::UTC
        } else if let Some(rest) = name.strip_prefix(['+', '-']) {
            let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
            let seconds = h
                .parse::<i32>()
                .ok()
                .zip(m.parse::<i32>().ok())
                .filter(|(h, m)| *h <= 14 && *m < 60)
                .map(|(h, m)| (h * 3600 + m * 60) * if name.starts_with('-') { -1 } else { 1 })
                .ok_or_else(|| format!("{name:?} is not an offset like +08:00"))?;
            let offset = jiff::tz::Offset::from_seconds(seconds).map_err(|e| e.to_string())?;
            jiff::tz::TimeZone::fixed(offset)
        } else {
            jiff::tz::TimeZone::get(name).map_err(|_| {
                format!("{name:?} is not a time zone (an IANA name such as Asia/Shanghai, UTC, or an offset such as +08:00)")
            })?
        };
        Ok(Self {
            name: name.to_string(),
            tz,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's offset from UTC at a moment, in milliseconds.
    fn offset_ms(&self, ts_ms: i64) -> i64 {
        jiff::Timestamp::from_millisecond(ts_ms)
            .map_or(0, |t| i64::from(self.tz.to_offset(t).seconds()) * 1000)
    }

    /// A moment (Unix milliseconds) as the zone's wall clock counts it, in milliseconds since
    /// 1970-01-01 00:00 there: its day and hour are the local ones.
    pub fn local_ms(&self, ts_ms: i64) -> i64 {
        ts_ms.saturating_add(self.offset_ms(ts_ms))
    }

    /// The local day a moment (Unix milliseconds) falls on.
    pub fn day(&self, ts_ms: i64) -> Day {
        Day::of_ms(self.local_ms(ts_ms))
    }

    /// Today, here.
    pub fn today(&self) -> Day {
        self.day(now_ms())
    }

    /// This month, here.
    pub fn month(&self) -> Month {
        self.today().month()
    }

    /// The first moment of a local day, in Unix milliseconds (the day's local midnight, or the
    /// first moment after it where a clock change skips midnight).
    pub fn start_ms(&self, day: Day) -> i64 {
        let utc = day.start_ms();
        let civil = jiff::civil::date(
            day.0.year() as i16,
            u8::from(day.0.month()) as i8,
            day.0.day() as i8,
        );
        civil
            .to_zoned(self.tz.clone())
            .map_or(utc, |z| z.timestamp().as_millisecond())
    }

    /// The moment just after a local day, in Unix milliseconds (its length is not always a
    /// day's: clocks change).
    pub fn end_ms(&self, day: Day) -> i64 {
        self.start_ms(day.next())
    }

    /// A moment (Unix seconds) as a local `YYYY-MM-DD`.
    pub fn date(&self, secs: i64) -> String {
        self.day(secs.saturating_mul(1000)).to_string()
    }

    /// A moment (Unix seconds) as a local `YYYY-MM-DD HH:MM`, with the zone's name unless it
    /// is UTC's.
    pub fn when(&self, secs: i64) -> String {
        let ms = secs.saturating_mul(1000);
        let local = ms.saturating_add(self.offset_ms(ms)).div_euclid(1000);
        let s = local.rem_euclid(86_400);
        format!(
            "{} {:02}:{:02} {}",
            Day::of_secs(local),
            s / 3600,
            s % 3600 / 60,
            if self.name.eq_ignore_ascii_case("utc") {
                "UTC"
            } else {
                &self.name
            }
        )
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months() {
        assert_eq!(Day::of_ms(0).to_string(), "1970-01-01");
        let d = Day::parse("2024-06-15").expect("a day");
        assert_eq!(d.start_ms(), 1_718_409_600_000);
        assert_eq!(Day::of_ms(d.start_ms() + 13 * 3_600_000), d);
        assert_eq!(Day::of_ms(d.start_ms() - 1), d.prev());
        assert_eq!(Day::parse("2024-02-30"), None);
        assert_eq!(Day::parse("2024-13-01"), None);
    }

    #[test]
    fn zones() {
        let beijing = Zone::parse("Asia/Shanghai").expect("zone");
        let d = Day::parse("2024-06-15").expect("a day");
        // 07:00 in Beijing is 23:00 UTC the day before: the local day is the 15th.
        let seven_local = d.start_ms() - 3_600_000;
        assert_eq!(Day::of_ms(seven_local), d.prev());
        assert_eq!(beijing.day(seven_local), d);
        assert_eq!(beijing.start_ms(d), d.start_ms() - 8 * 3_600_000);
        assert_eq!(beijing.end_ms(d) - beijing.start_ms(d), DAY_MS);
        assert_eq!(
            beijing.when(seven_local / 1000),
            "2024-06-15 07:00 Asia/Shanghai"
        );
        let fixed = Zone::parse("+08:00").expect("offset");
        assert_eq!(fixed.start_ms(d), beijing.start_ms(d));
        assert_eq!(Zone::default().start_ms(d), d.start_ms());
        // A day when clocks go forward is 23 hours long.
        let paris = Zone::parse("Europe/Paris").expect("zone");
        let spring = Day::parse("2024-03-31").expect("a day");
        assert_eq!(
            paris.end_ms(spring) - paris.start_ms(spring),
            DAY_MS - 3_600_000
        );
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("+25:00").is_err());
        assert_eq!(Day::parse("24-01-01"), None);
        assert_eq!(Day::parse("2024-1-011"), None);
        assert_eq!(Day::parse("+024-01-01"), None);
        assert_eq!(Day::of_ms(-1).to_string(), "1969-12-31");
        let m = Month::parse("2024-02").expect("a month");
        assert_eq!(m.to_string(), "2024-02");
        assert_eq!(m.last_day().to_string(), "2024-02-29");
        assert_eq!(m.prev().to_string(), "2024-01");
        assert_eq!(m.back(2).to_string(), "2023-12");
        assert_eq!(
            Month::parse("2023-12").expect("m").next().to_string(),
            "2024-01"
        );
        assert_eq!(Month::parse("2024-06-15"), Some(d.month()));
        assert_eq!(Month::parse("2024-6"), None);
        assert!(Month::parse("2023-12").expect("m") < m);
        assert_eq!(
            Zone::default().when(1_718_409_600 + 3_661),
            "2024-06-15 01:01 UTC"
        );
        for days in [-700_000i64, -1, 0, 1, 59, 365, 11_016, 19_000, 2_932_896] {
            let day = Day::of_ms(days * DAY_MS);
            assert_eq!(day.start_ms(), days * DAY_MS);
            assert_eq!(Day::parse(&day.to_string()), Some(day));
        }
    }
}
