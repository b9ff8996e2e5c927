//! Wall-clock arithmetic in a time zone, done the way cron-parser's date type (Luxon 3.7
//! underneath) does it, because cron-parser's answers around DST transitions are whatever that
//! arithmetic yields:
//!
//! - adding hours, minutes or seconds moves the instant; the offset is then looked up;
//! - adding days or months moves the calendar date and keeps the wall time;
//! - setting wall-clock fields (and "start of hour/day/month", which sets the smaller ones to
//!   zero) turns a wall time into an instant by guessing the offset: first the offset the date
//!   had before the change, then the offset found at that guess. A wall time that happens twice
//!   (fall-back) therefore keeps the side the date was on; one that never happens (spring-forward
//!   gap) is read with the earlier offset and so lands after the gap, by the gap's length.
//!
//! Every operation is checked: out of the representable range it gives `None`.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

/// The time zone of a pattern: UTC or an IANA zone from chrono-tz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zone {
    Utc,
    Iana(Tz),
}

impl Zone {
    /// None is UTC (cron-parser would use the process's zone; a server's zone is no sound
    /// default for a schedule shared between machines).
    pub(super) fn named(name: Option<&str>) -> Result<Zone, String> {
        match name {
            None => Ok(Zone::Utc),
            Some(name) => name.parse::<Tz>().map(Zone::Iana).map_err(|_| {
                format!("unknown time zone `{name}` (expected an IANA name such as `Europe/Berlin` or `UTC`)")
            }),
        }
    }

    /// Local time minus UTC at instant `ts` (ms), in ms.
    fn offset_at(self, ts: i64) -> Option<i64> {
        match self {
            Zone::Utc => Some(0),
            Zone::Iana(tz) => {
                let utc = DateTime::from_timestamp_millis(ts)?.naive_utc();
                Some(i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()) * 1000)
            }
        }
    }
}

/// An instant (ms since the epoch) with the zone's offset at it (ms), as Luxon keeps a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Wall {
    pub(super) ts: i64,
    pub(super) offset: i64,
    zone: Zone,
}

impl Wall {
    pub(super) fn at(zone: Zone, ts: i64) -> Option<Wall> {
        Some(Wall { ts, offset: zone.offset_at(ts)?, zone })
    }

    /// The local date and time.
    pub(super) fn local(&self) -> Option<NaiveDateTime> {
        Some(DateTime::from_timestamp_millis(self.ts.checked_add(self.offset)?)?.naive_utc())
    }

    /// The instant of wall time `local`, guessing the offset from `hint` (see the module doc).
    fn resolve(zone: Zone, local: NaiveDateTime, hint: i64) -> Option<Wall> {
        let local_ms = local.and_utc().timestamp_millis();
        let guess = local_ms.checked_sub(hint)?;
        let found = zone.offset_at(guess)?;
        if found == hint {
            return Some(Wall { ts: guess, offset: hint, zone });
        }
        let second_guess = guess.checked_sub(found - hint)?;
        let found_again = zone.offset_at(second_guess)?;
        if found_again == found {
            return Some(Wall { ts: second_guess, offset: found, zone });
        }
        // A wall time in a gap: read with the smaller offset, reported with the larger.
        Some(Wall { ts: local_ms.checked_sub(found.min(found_again))?, offset: found.max(found_again), zone })
    }

    /// The same date with a new wall time, resolved from this date's offset.
    pub(super) fn with_time(&self, time: NaiveTime) -> Option<Wall> {
        Wall::resolve(self.zone, self.local()?.date().and_time(time), self.offset)
    }

    /// Moves the instant by `ms`.
    pub(super) fn plus_ms(&self, ms: i64) -> Option<Wall> {
        Wall::at(self.zone, self.ts.checked_add(ms)?)
    }

    /// The next calendar day, same wall time.
    pub(super) fn plus_day(&self) -> Option<Wall> {
        let local = self.local()?;
        Wall::resolve(self.zone, local.checked_add_days(Days::new(1))?, self.offset)
    }

    /// The next calendar month, same wall time, the day capped to that month's length.
    pub(super) fn plus_month(&self) -> Option<Wall> {
        let local = self.local()?;
        let (year, month) =
            if local.month() == 12 { (local.year().checked_add(1)?, 1) } else { (local.year(), local.month() + 1) };
        let day = local.day().min(days_in_month(year, month));
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        Wall::resolve(self.zone, date.and_time(local.time()), self.offset)
    }

    pub(super) fn start_of_month(&self) -> Option<Wall> {
        let local = self.local()?;
        Wall::resolve(self.zone, local.date().with_day(1)?.and_time(NaiveTime::MIN), self.offset)
    }

    pub(super) fn start_of_day(&self) -> Option<Wall> {
        self.with_time(NaiveTime::MIN)
    }

    pub(super) fn start_of_hour(&self) -> Option<Wall> {
        let t = self.local()?.time();
        self.with_time(NaiveTime::from_hms_opt(t.hour(), 0, 0)?)
    }

    pub(super) fn start_of_minute(&self) -> Option<Wall> {
        let t = self.local()?.time();
        self.with_time(NaiveTime::from_hms_opt(t.hour(), t.minute(), 0)?)
    }

    /// Sets one of hour, minute, second or millisecond, keeping the others.
    pub(super) fn set(&self, unit: Unit, value: u32) -> Option<Wall> {
        let t = self.local()?.time();
        let (h, m, s, ms) = (t.hour(), t.minute(), t.second(), t.nanosecond() / 1_000_000);
        let time = match unit {
            Unit::Hour => NaiveTime::from_hms_milli_opt(value, m, s, ms),
            Unit::Minute => NaiveTime::from_hms_milli_opt(h, value, s, ms),
            Unit::Second => NaiveTime::from_hms_milli_opt(h, m, value, ms),
            Unit::Milli => NaiveTime::from_hms_milli_opt(h, m, s, value),
        }?;
        self.with_time(time)
    }
}

/// A wall-clock field `Wall::set` can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    Hour,
    Minute,
    Second,
    Milli,
}

/// Days in `month` (1-12) of `year`, Gregorian.
pub(super) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
