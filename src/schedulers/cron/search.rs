//! The search for the next occurrence, step for step as cron-parser 5.10.3 walks.
//!
//! Why a walk and not "the first instant whose wall time matches": cron-parser's results around
//! DST transitions are artefacts of its walk, and a scheduler must fire when Node's would. The
//! walk checks month, day, hour, minute and second in that order, and on the first mismatch moves
//! the date forward (to the next month, day, matching hour, ...) and starts over; it gives up
//! after 9,999 rounds. Moving forward an hour, minute or second leaves marks that change later
//! hour checks, and only when the hour field does not list all 24 hours:
//!
//! - a move that jumps at least two wall-clock hours forward while the offset grows (a
//!   spring-forward gap) marks the skipped hours and the hour landed on; a later hour check on
//!   the landed hour passes if any skipped hour is in the pattern (`30 2 * * *` fires at 03:30 on
//!   the day 02:00-02:59 does not exist, and `*/15 2 * * *` at 03:00, 03:15, ... when iterated);
//! - a move that lands on the same wall-clock hour at mm:ss 00:00 (the repeated hour of a
//!   fall-back) marks that hour; the next hour check on it moves an hour on instead, so such
//!   patterns fire in the first pass of the repeated hour only.
//!
//! The marks travel with the date an iterator keeps between calls, so an iterator's second
//! occurrence can differ from a fresh search started at its first (see `Occurrences`). On the
//! calendar day of a transition, jumping to the next listed hour goes one hour at a time so that
//! the marks are set; whether a day is such a day is remembered for one day at a time, per
//! iterator, as cron-parser remembers it (it matters on a day whose midnight is repeated).

use chrono::{Datelike, NaiveDate, Timelike};

use super::clock::{days_in_month, Unit, Wall};
use super::pattern::Fields;

/// cron-parser's limit on rounds of its walk ("Invalid expression, loop limit exceeded").
const ROUNDS: u32 = 9_999;

/// A step the walk takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// The walking date: a wall-clock position and the DST marks it carries.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor {
    pub(super) at: Wall,
    /// Spring-forward: the first skipped hour and the hour landed on.
    gap: Option<(u32, u32)>,
    /// Fall-back: the repeated hour, entered for the second time.
    repeated: Option<u32>,
}

impl Cursor {
    pub(super) fn new(at: Wall) -> Cursor {
        Cursor { at, gap: None, repeated: None }
    }
}

/// One search's view: the pattern, the optional start and end bounds, and the one-day memo of
/// "is this a transition day".
#[derive(Debug, Clone)]
pub(super) struct Walker<'a> {
    pub(super) fields: &'a Fields,
    pub(super) start: Option<i64>,
    pub(super) end: Option<i64>,
    pub(super) transition_day: Option<(NaiveDate, bool)>,
}

impl Walker<'_> {
    /// The occurrence after `from` (or None: out of bounds, gave up, or out of range), and the
    /// cursor to continue from.
    pub(super) fn next(&mut self, from: Cursor) -> Option<Cursor> {
        let mut c = from;
        let origin = c.at.ts;
        if c.at.ts.rem_euclid(1000) != 0 {
            c.at = c.at.set(Unit::Milli, 0)?;
            self.step(&mut c, Step::Second)?;
        }
        let f = self.fields;
        for _ in 0..ROUNDS {
            if self.start.is_some_and(|s| c.at.ts < s) || self.end.is_some_and(|e| c.at.ts > e) {
                return None;
            }
            let local = c.at.local()?;
            if f.months & (1 << local.month()) == 0 {
                self.step(&mut c, Step::Month)?;
                continue;
            }
            if !day_matches(f, local.date()) {
                self.step(&mut c, Step::Day)?;
                continue;
            }
            if !self.hour_matches(&mut c)? {
                continue;
            }
            let (minute, second) = (c.at.local()?.minute(), c.at.local()?.second());
            if f.minutes & (1 << minute) == 0 {
                match above(f.minutes, minute) {
                    Some(m) => c.at = c.at.set(Unit::Minute, m)?,
                    None => {
                        self.step(&mut c, Step::Hour)?;
                        c.at = c.at.set(Unit::Minute, lowest(f.minutes))?;
                    }
                }
                c.at = c.at.set(Unit::Second, lowest(f.seconds))?;
                continue;
            }
            if f.seconds & (1 << second) == 0 {
                match above(f.seconds, second) {
                    Some(s) => c.at = c.at.set(Unit::Second, s)?,
                    None => {
                        self.step(&mut c, Step::Minute)?;
                        c.at = c.at.set(Unit::Second, lowest(f.seconds))?;
                    }
                }
                continue;
            }
            if c.at.ts == origin {
                self.step(&mut c, Step::Second)?;
                continue;
            }
            return Some(c);
        }
        None
    }

    /// cron-parser's hour check, with its side effects on the cursor; Some(true) when the hour
    /// matches.
    fn hour_matches(&mut self, c: &mut Cursor) -> Option<bool> {
        let hours = self.fields.hours;
        let hour = c.at.local()?.hour();
        if let Some((mut skipped, landing)) = c.gap {
            if landing == hour {
                for _ in 0..24 {
                    if skipped == hour {
                        break;
                    }
                    if hours & (1 << skipped) != 0 {
                        return Some(true);
                    }
                    skipped = (skipped + 1) % 24;
                }
            }
        }
        if c.repeated == Some(hour) {
            c.repeated = None;
            self.step(c, Step::Hour)?;
            return Some(false);
        }
        if hours & (1 << hour) != 0 {
            return Some(true);
        }
        c.gap = None;
        let Some(next) = above(u64::from(hours), hour) else {
            self.step(c, Step::Day)?;
            return Some(false);
        };
        if self.is_transition_day(c.at)? {
            for _ in hour..next {
                self.step(c, Step::Hour)?;
                if c.at.local()?.hour() >= next {
                    break;
                }
            }
        } else {
            c.at = c.at.set(Unit::Hour, next)?;
        }
        c.at = c.at.set(Unit::Minute, lowest(self.fields.minutes))?;
        c.at = c.at.set(Unit::Second, lowest(self.fields.seconds))?;
        Some(false)
    }

    /// Whether the offset at the start of `at`'s calendar day differs from the one at its end.
    fn is_transition_day(&mut self, at: Wall) -> Option<bool> {
        let date = at.local()?.date();
        if let Some((day, answer)) = self.transition_day {
            if day == date {
                return Some(answer);
            }
        }
        let start = at.start_of_day()?;
        let end = at.plus_day()?.start_of_day()?.plus_ms(-1)?;
        let answer = start.offset != end.offset;
        self.transition_day = Some((date, answer));
        Some(answer)
    }

    /// Moves the cursor one step forward as cron-parser does, leaving DST marks (module doc).
    fn step(&self, c: &mut Cursor, step: Step) -> Option<()> {
        let before = c.at;
        c.at = match step {
            Step::Month => before.plus_month()?.start_of_month()?,
            Step::Day => before.plus_day()?.start_of_day()?,
            Step::Hour => before.plus_ms(3_600_000)?.start_of_hour()?,
            Step::Minute => before.plus_ms(60_000)?.start_of_minute()?,
            Step::Second => before.plus_ms(1_000)?,
        };
        if matches!(step, Step::Month | Step::Day) {
            return Some(());
        }
        if self.fields.hours.count_ones() == 24 {
            return Some(());
        }
        let (was, now) = (before.local()?, c.at.local()?);
        let advance = (now.hour() + 24 - was.hour()) % 24;
        if c.at.offset > before.offset && advance >= 2 {
            c.gap = Some(((was.hour() + 1) % 24, now.hour()));
        } else if advance == 0 && now.minute() == 0 && now.second() == 0 {
            c.repeated = Some(now.hour());
        }
        Some(())
    }
}

/// cron-parser's day rule: with both day fields restricted, either may match; with one a
/// wildcard (exactly `*` or `?`), the other decides.
fn day_matches(f: &Fields, date: NaiveDate) -> bool {
    let (day, last) = (date.day(), days_in_month(date.year(), date.month()));
    let weekday = date.weekday().num_days_from_sunday();
    let by_day = f.days & (1 << day) != 0 || (f.last_day && day == last);
    let in_nth_week = f.nth == 0 || day.div_ceil(7) == u32::from(f.nth);
    let by_weekday = (f.weekdays & (1 << weekday) != 0 && in_nth_week)
        || (f.weekday_last && day + 7 > last && (f.weekdays | f.last_weekdays) & (1 << weekday) != 0);
    match (f.days_any, f.weekdays_any) {
        (false, false) => by_day || by_weekday,
        (_, true) => by_day,
        (true, false) => by_weekday,
    }
}

/// The smallest value in `set` greater than `v`.
fn above(set: u64, v: u32) -> Option<u32> {
    let higher = set.checked_shr(v + 1).unwrap_or(0);
    (higher != 0).then(|| v + 1 + higher.trailing_zeros())
}

/// The smallest value in `set` (sets are never empty).
fn lowest(set: u64) -> u32 {
    set.trailing_zeros()
}
