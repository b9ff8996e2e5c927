//! Pattern syntax: the part of cron-parser 5.10.3's syntax whose meaning we can state and
//! reproduce, turned into bit sets. Everything else is refused with the reason in plain words,
//! because cron-parser reads many odd strings in surprising ways (`1-2-3` as `1-2`, `mon` in the
//! month field as January, `8L` as "last Monday", four fields as "every minute of ..."), and a
//! scheduler that silently fires at other times than Node's would be worse than an error.

/// The `@` aliases cron-parser expands. It matches the whole pattern exactly (case and
/// surrounding spaces included), so `@Daily` or ` @daily` are not aliases there and not here.
const ALIASES: [(&str, &str); 10] = [
    ("@yearly", "0 0 0 1 1 *"),
    ("@annually", "0 0 0 1 1 *"),
    ("@monthly", "0 0 0 1 * *"),
    ("@weekly", "0 0 0 * * 0"),
    ("@daily", "0 0 0 * * *"),
    ("@hourly", "0 0 * * * *"),
    ("@minutely", "0 * * * * *"),
    ("@secondly", "* * * * * *"),
    ("@weekdays", "0 0 0 * * 1-5"),
    ("@weekends", "0 0 0 * * 0,6"),
];

/// cron-parser refuses longer patterns outright.
const MAX_PATTERN_LEN: usize = 1024;

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Days in each month as cron-parser's explicit-day check counts them (February as 29).
const LONGEST_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// A parsed pattern: one bit per allowed value, plus the day rules that are not plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fields {
    /// Bit n: second n.
    pub(super) seconds: u64,
    /// Bit n: minute n.
    pub(super) minutes: u64,
    /// Bit n: hour n.
    pub(super) hours: u32,
    /// Bit n: month n (1-12).
    pub(super) months: u16,
    /// Bit n: day of month n (1-31).
    pub(super) days: u32,
    /// `L` in the day-of-month field: the last day of the month.
    pub(super) last_day: bool,
    /// The day-of-month field is exactly `*` or `?` (cron-parser's "wildcard"; `*/1` is not).
    pub(super) days_any: bool,
    /// Bit n: weekday n (0 = Sunday; a 7 in the pattern is Sunday).
    pub(super) weekdays: u8,
    /// Bit n: weekday n in the month's last seven days (`nL`).
    pub(super) last_weekdays: u8,
    /// The day-of-week field has an `nL` item.
    pub(super) weekday_last: bool,
    /// `#n`: only the n-th such weekday of the month (days 7n-6 to 7n); 0 when absent.
    pub(super) nth: u8,
    /// The day-of-week field is exactly `*` or `?`.
    pub(super) weekdays_any: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Weekday,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Second => "second",
            Kind::Minute => "minute",
            Kind::Hour => "hour",
            Kind::Day => "day-of-month",
            Kind::Month => "month",
            Kind::Weekday => "day-of-week",
        }
    }

    fn bounds(self) -> (u64, u64) {
        match self {
            Kind::Second | Kind::Minute => (0, 59),
            Kind::Hour => (0, 23),
            Kind::Day => (1, 31),
            Kind::Month => (1, 12),
            Kind::Weekday => (0, 7),
        }
    }
}

/// cron-parser refuses a field once it has listed more values than this (duplicates included).
const MAX_FIELD_VALUES: u32 = 256;

/// One field's values: `set` holds every value cron-parser lists for the field (so a day-of-week
/// range reaching 7 holds both 7 and 0, as there); `items` the values of each list item, for the
/// duplicate check (done once the month is known, see `check_listed_once`).
#[derive(Debug, Default)]
struct Values {
    set: u64,
    items: Vec<u64>,
    /// Weekday n in the month's last week (`nL`, n taken modulo 7).
    lasts: u8,
    /// `L` items as written: bit 0 for `L` (day of month), bit n for `nL` (day of week).
    last_items: u8,
    has_last: bool,
}

/// Parses `pattern` (an alias, or 5 or 6 fields).
pub(super) fn parse(pattern: &str) -> Result<Fields, String> {
    let expanded = ALIASES.iter().find(|(alias, _)| *alias == pattern).map_or(pattern, |(_, fields)| *fields);
    if expanded.len() > MAX_PATTERN_LEN {
        return Err(format!("the pattern is longer than {MAX_PATTERN_LEN} characters"));
    }
    if let Some(c) = expanded.chars().find(|c| !c.is_ascii()) {
        return Err(format!("the pattern contains the non-ASCII character {c:?}"));
    }
    if expanded.contains('@') {
        return Err(format!(
            "`{}` is not one of the aliases @yearly, @annually, @monthly, @weekly, @daily, @hourly, \
             @minutely, @secondly, @weekdays, @weekends (written exactly so)",
            expanded.trim()
        ));
    }
    // JavaScript's `\s` on ASCII: space, \t, \n, \v, \f, \r.
    let fields: Vec<&str> = expanded.split([' ', '\t', '\n', '\x0b', '\x0c', '\r']).filter(|f| !f.is_empty()).collect();
    let (second, rest) = match fields.len() {
        0 => return Err("the pattern is empty".into()),
        5 => ("0", &fields[..]),
        // Five fields and a year read as six: say so rather than "day-of-week 2027 out of range".
        6 if looks_like_year(fields[5]) => return Err("a year field is not supported: use 5 or 6 fields".into()),
        6 => (fields[0], &fields[1..]),
        7 => return Err("a 7th (year) field is not supported: use 5 or 6 fields".into()),
        n => return Err(format!("expected 5 fields (minute to day-of-week) or 6 (with seconds first), found {n}")),
    };
    let (minute, hour, day, month, weekday) = (rest[0], rest[1], rest[2], rest[3], rest[4]);

    let seconds = parse_list(Kind::Second, second)?;
    let minutes = parse_list(Kind::Minute, minute)?;
    let hours = parse_list(Kind::Hour, hour)?;
    let months = parse_list(Kind::Month, month)?;
    let days = parse_list(Kind::Day, day)?;
    let (weekdays, nth) = parse_weekdays(weekday)?;
    for (kind, raw, values) in [
        (Kind::Second, second, &seconds),
        (Kind::Minute, minute, &minutes),
        (Kind::Hour, hour, &hours),
        (Kind::Month, month, &months),
        (Kind::Weekday, weekday, &weekdays),
    ] {
        check_listed_once(kind, raw, values, u64::MAX)?;
    }
    check_listed_once(Kind::Day, day, &days, days_kept(months.set, &days))?;

    let fields = Fields {
        seconds: seconds.set,
        minutes: minutes.set,
        hours: hours.set as u32,
        months: months.set as u16,
        days: days.set as u32,
        last_day: days.has_last,
        days_any: is_any(day),
        weekdays: (weekdays.set & 0x7f) as u8,
        last_weekdays: weekdays.lasts,
        weekday_last: weekdays.has_last,
        nth,
        weekdays_any: is_any(weekday),
    };
    check_reachable_day(&fields)?;
    Ok(fields)
}

/// A year or year range (as `2027` or `2026-2030`), never a valid day-of-week.
fn looks_like_year(raw: &str) -> bool {
    raw.split([',', '-', '/']).any(|part| part.len() == 4 && !part.starts_with('0') && digits(part).is_some())
}

fn is_any(raw: &str) -> bool {
    raw == "*" || raw == "?"
}

/// cron-parser refuses a single month whose explicit days all lie past that month's length
/// (`0 0 30 2 *`) unless `L` or a day-of-week restriction is present. With two or more months it
/// accepts such patterns and its search gives up after its step limit, which we reproduce.
fn check_reachable_day(f: &Fields) -> Result<(), String> {
    if f.months.count_ones() != 1 || f.last_day || !f.weekdays_any {
        return Ok(());
    }
    let month = f.months.trailing_zeros() as usize;
    let longest = LONGEST_MONTH[month - 1];
    let first_day = f.days.trailing_zeros();
    if first_day > longest {
        return Err(format!("day-of-month {first_day} never occurs in {}", MONTH_NAMES[month - 1]));
    }
    Ok(())
}

/// The day-of-week field: a list, or one `base#n` item.
fn parse_weekdays(raw: &str) -> Result<(Values, u8), String> {
    let Some((base, n)) = raw.split_once('#') else { return Ok((parse_list(Kind::Weekday, raw)?, 0)) };
    if base.contains([',', '-', '/']) || n.contains([',', '-', '/']) {
        return Err(format!("`{raw}`: `#` cannot be combined with a list, a range or a step"));
    }
    if n.contains('#') {
        return Err(format!("`{raw}` has more than one `#`"));
    }
    if base.contains('L') {
        return Err(format!("`{raw}`: `L` and `#` cannot be combined"));
    }
    let nth = match digits(n) {
        Some(v @ 1..=5) => v as u8,
        Some(_) => return Err(format!("`{raw}`: the occurrence after `#` must be 1 to 5")),
        None => return Err(format!("`{raw}`: the occurrence after `#` must be a number 1 to 5")),
    };
    if base.is_empty() {
        return Err(format!("`{raw}`: `#` needs a weekday before it"));
    }
    Ok((parse_list(Kind::Weekday, base)?, nth))
}

fn parse_list(kind: Kind, raw: &str) -> Result<Values, String> {
    if let Some(reason) = unsupported(kind, raw) {
        return Err(reason);
    }
    let mut values = Values::default();
    let mut listed = 0;
    for item in raw.split(',') {
        if listed > MAX_FIELD_VALUES {
            return Err(format!("the {} field `{raw}` lists more than {MAX_FIELD_VALUES} values", kind.name()));
        }
        if item.is_empty() {
            return Err(format!("the {} field `{raw}` has an empty list item", kind.name()));
        }
        match parse_item(kind, item)? {
            Item::Values(set) => {
                values.set |= set;
                values.items.push(set);
                listed += set.count_ones();
            }
            Item::Last(written) => {
                if values.last_items & (1 << written) != 0 {
                    return Err(format!("the {} field `{raw}` lists `{item}` more than once", kind.name()));
                }
                values.last_items |= 1 << written;
                values.lasts |= 1 << (written % 7);
                values.has_last = true;
                listed += 1;
            }
        }
    }
    Ok(values)
}

/// cron-parser refuses a field that lists a value twice (`1,1`, `1-5,3`, `0,7`), counting only
/// the `kept` values: with a single month it first drops the days that month never has (keeping
/// all when none would remain), so `31,30-31 4 *` passes there.
fn check_listed_once(kind: Kind, raw: &str, values: &Values, kept: u64) -> Result<(), String> {
    let mut seen = 0u64;
    for set in values.items.iter().map(|set| set & kept) {
        if seen & set != 0 {
            let value = (seen & set).trailing_zeros();
            return Err(format!("the {} field `{raw}` lists {value} more than once", kind.name()));
        }
        seen |= set;
    }
    Ok(())
}

/// The days cron-parser keeps for the duplicate check (`check_listed_once`).
fn days_kept(months: u64, days: &Values) -> u64 {
    if months.count_ones() != 1 {
        return u64::MAX;
    }
    let longest = LONGEST_MONTH[months.trailing_zeros() as usize - 1];
    let within = (1u64 << (longest + 1)) - 2;
    if days.set & within != 0 || days.has_last {
        within
    } else {
        u64::MAX
    }
}

/// The syntax cron-parser has (or other crons have) that we refuse, named.
fn unsupported(kind: Kind, raw: &str) -> Option<String> {
    if raw.contains('W') && kind == Kind::Day {
        return Some(format!("`{raw}`: `W` (nearest weekday) is not supported"));
    }
    let letters_allowed = matches!(kind, Kind::Month | Kind::Weekday);
    if raw.contains('H') && (!letters_allowed || raw.split(|c: char| !c.is_ascii_alphabetic()).any(|w| w == "H")) {
        return Some(format!("`{raw}`: `H` (hashed values) is not supported"));
    }
    None
}

/// A list item: plain values, or an `L` item (0 for `L`, n for `nL`).
enum Item {
    Values(u64),
    Last(u8),
}

/// One list item.
fn parse_item(kind: Kind, item: &str) -> Result<Item, String> {
    let field = kind.name();
    // `L` or a number and `L` (`JUL` is a name).
    let l_form = item.strip_suffix('L').filter(|stem| !stem.ends_with(|c: char| c.is_ascii_alphabetic()));
    if let Some(stem) = l_form {
        return match (kind, stem) {
            (Kind::Day, "") => Ok(Item::Last(0)),
            (Kind::Day, _) => Err(format!("`{item}`: in the day-of-month field `L` stands alone (the last day)")),
            (Kind::Weekday, s) if s.len() == 1 && s.as_bytes()[0].is_ascii_digit() && s.as_bytes()[0] <= b'7' => {
                Ok(Item::Last(s.as_bytes()[0] - b'0'))
            }
            (Kind::Weekday, _) => {
                Err(format!("`{item}`: `L` in the day-of-week field follows one weekday number 0-7, as in `5L`"))
            }
            _ => Err(format!("`{item}`: `L` is only allowed in the day-of-month and day-of-week fields")),
        };
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => {
            let step = match digits(step) {
                Some(0) => return Err(format!("`{item}`: a step of 0 never advances")),
                Some(s) => s,
                None => return Err(format!("`{item}`: the step after `/` must be a number")),
            };
            (range, Some(step))
        }
        None => (item, None),
    };
    let (min, max) = kind.bounds();
    let (low, high) = if range == "*" || range == "?" {
        (min, max)
    } else if let Some((a, b)) = range.split_once('-') {
        let (a, b) = (value(kind, a, item)?, value(kind, b, item)?);
        for v in [a, b] {
            if v < min || v > max {
                return Err(format!("`{item}`: {field} {v} is out of range {min}-{max}"));
            }
        }
        if a > b {
            return Err(format!("`{item}`: the {field} range {a}-{b} runs backwards"));
        }
        (a, b)
    } else {
        let v = value(kind, range, item)?;
        if v < min || v > max {
            return Err(format!("`{item}`: {field} {v} is out of range {min}-{max}"));
        }
        match step {
            // `a/s` runs from a to the field's maximum.
            Some(_) => (v, max),
            None if kind == Kind::Weekday => return Ok(Item::Values(1 << (v % 7))),
            None => return Ok(Item::Values(1 << v)),
        }
    };
    let step = step.unwrap_or(1);
    let mut set = 0u64;
    let mut v = low;
    while v <= high {
        set |= 1 << v;
        v = v.saturating_add(step);
    }
    // A weekday range that reaches 7 also lists Sunday as 0, as cron-parser's does.
    if kind == Kind::Weekday && set & (1 << 7) != 0 {
        set |= 1;
    }
    Ok(Item::Values(set))
}

/// A number, or a month or weekday name in its own field (three letters, any case).
fn value(kind: Kind, text: &str, item: &str) -> Result<u64, String> {
    if let Some(v) = digits(text) {
        return Ok(v);
    }
    let lower = text.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == lower);
    let weekday = WEEKDAYS.iter().position(|d| *d == lower);
    match (kind, month, weekday) {
        (Kind::Month, Some(m), _) => Ok(m as u64 + 1),
        (Kind::Weekday, _, Some(d)) => Ok(d as u64),
        (Kind::Month, None, Some(_)) => Err(format!("`{item}`: `{text}` is a weekday, not a month")),
        (Kind::Weekday, Some(_), None) => Err(format!("`{item}`: `{text}` is a month, not a weekday")),
        _ if text.is_empty() => Err(format!("`{item}`: a {} value is missing", kind.name())),
        _ if text == "*" || text == "?" => Err(format!("`{item}`: `{text}` cannot end a range or start a step")),
        (Kind::Month, ..) => Err(format!("`{item}`: `{text}` is not a month number or a name like `jan`")),
        (Kind::Weekday, ..) => Err(format!("`{item}`: `{text}` is not a weekday number 0-7 or a name like `mon`")),
        _ => Err(format!("`{item}`: `{text}` is not a number (in the {} field)", kind.name())),
    }
}

/// ASCII digits as a number (saturating: an absurdly long number is simply out of range).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}
