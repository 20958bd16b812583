//! Civil-calendar arithmetic for the clocks: holiday calendars computed
//! from rules (not per-year lists), business-day counting, months and
//! end-of-day instants in an IANA zone. Pure functions of their arguments.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::ClockError;

/// A working-day calendar named by an obligation's `business_calendar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessCalendar {
    /// Mon–Fri without the 11 federal holidays of 5 U.S.C. 6103, as
    /// observed (Saturday → Friday before, Sunday → Monday after).
    UsFederal,
    /// Mon–Fri without Brazilian national holidays. `optional_points` also
    /// drops Carnival Monday/Tuesday and Corpus Christi, which are federal
    /// *pontos facultativos* rather than national holidays (unverified).
    BrNational { optional_points: bool },
    /// Mon–Fri only: used for `EU_member_state` and `acquirer_local`, for
    /// which no holiday data is held.
    WeekendsOnly,
}

impl BusinessCalendar {
    /// The calendar for a catalogue `business_calendar` key.
    pub fn from_key(key: &str, br_optional_points: bool) -> BusinessCalendar {
        match key {
            "US_federal" => BusinessCalendar::UsFederal,
            "BR_national" => BusinessCalendar::BrNational {
                optional_points: br_optional_points,
            },
            _ => BusinessCalendar::WeekendsOnly,
        }
    }

    /// Whether `d` is a working day in this calendar.
    pub fn is_business_day(self, d: Date) -> Result<bool, ClockError> {
        if matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            return Ok(false);
        }
        Ok(match self {
            BusinessCalendar::WeekendsOnly => true,
            BusinessCalendar::UsFederal => {
                // A holiday of next year can be observed on 31 December.
                let this = us_federal_holidays(d.year())?;
                let next = us_federal_holidays(d.year().saturating_add(1))?;
                !this.iter().chain(next.iter()).any(|(h, _)| *h == d)
            }
            BusinessCalendar::BrNational { optional_points } => {
                !br_national_holidays(d.year(), optional_points)?
                    .iter()
                    .any(|(h, _)| *h == d)
            }
        })
    }

    /// The `n`th working day after `day0` (`day0` itself is day 0 and is
    /// never counted, whatever it is).
    pub fn add_business_days(self, day0: Date, n: u32) -> Result<Date, ClockError> {
        let mut d = day0;
        let mut left = n;
        // Bounded: no calendar here has more than 4 non-working days in a row.
        for _ in 0..(u64::from(n) * 7 + 7) {
            if left == 0 {
                return Ok(d);
            }
            d = d.tomorrow()?;
            if self.is_business_day(d)? {
                left -= 1;
            }
        }
        if left == 0 {
            Ok(d)
        } else {
            Err(ClockError::Time(format!(
                "no {n} business days found after {day0}"
            )))
        }
    }

    /// The first working day on or after `d` (for the optional roll-forward).
    pub fn roll_forward(self, d: Date) -> Result<Date, ClockError> {
        let mut d = d;
        for _ in 0..14 {
            if self.is_business_day(d)? {
                return Ok(d);
            }
            d = d.tomorrow()?;
        }
        Err(ClockError::Time(format!("no business day near {d}")))
    }
}

/// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher).
pub fn easter_sunday(year: i16) -> Result<Date, ClockError> {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    let month = i8::try_from(month).map_err(|e| ClockError::Time(e.to_string()))?;
    let day = i8::try_from(day).map_err(|e| ClockError::Time(e.to_string()))?;
    Ok(Date::new(year, month, day)?)
}

/// The US federal holidays of `year` (5 U.S.C. 6103(a)) on the day they
/// are observed (6103(b) and E.O. 11582: a Saturday holiday is observed on
/// the Friday before, a Sunday holiday on the Monday after). New Year's
/// Day falling on a Saturday is observed on 31 December of `year - 1`,
/// which is then in this list. Juneteenth counts from 2021.
pub fn us_federal_holidays(year: i16) -> Result<Vec<(Date, &'static str)>, ClockError> {
    let fixed = |m: i8, d: i8| -> Result<Date, ClockError> { observed(Date::new(year, m, d)?) };
    let nth = |m: i8, n: i8, wd: Weekday| -> Result<Date, ClockError> {
        Ok(Date::new(year, m, 1)?.nth_weekday_of_month(n, wd)?)
    };
    let mut v = vec![
        (fixed(1, 1)?, "New Year's Day"),
        (
            nth(1, 3, Weekday::Monday)?,
            "Birthday of Martin Luther King, Jr.",
        ),
        (nth(2, 3, Weekday::Monday)?, "Washington's Birthday"),
        (nth(5, -1, Weekday::Monday)?, "Memorial Day"),
    ];
    if year >= 2021 {
        v.push((fixed(6, 19)?, "Juneteenth National Independence Day"));
    }
    v.extend([
        (fixed(7, 4)?, "Independence Day"),
        (nth(9, 1, Weekday::Monday)?, "Labor Day"),
        (nth(10, 2, Weekday::Monday)?, "Columbus Day"),
        (fixed(11, 11)?, "Veterans Day"),
        (nth(11, 4, Weekday::Thursday)?, "Thanksgiving Day"),
        (fixed(12, 25)?, "Christmas Day"),
    ]);
    Ok(v)
}

fn observed(d: Date) -> Result<Date, ClockError> {
    Ok(match d.weekday() {
        Weekday::Saturday => d.yesterday()?,
        Weekday::Sunday => d.tomorrow()?,
        _ => d,
    })
}

/// Brazilian national holidays of `year` (no weekend observance shift in
/// Brazil). From background knowledge, NOT from the catalogue (the md marks
/// ANPD business-day counting unverified): the fixed national holidays of
/// Lei 662/1949 (as amended), Lei 6.802/1980 (12 Oct) and Lei 14.759/2023
/// (20 Nov, from 2024), plus Good Friday (listed as a national holiday in
/// the federal calendar). Carnival Monday/Tuesday and Corpus Christi are
/// federal optional days, included only when `optional_points`.
pub fn br_national_holidays(
    year: i16,
    optional_points: bool,
) -> Result<Vec<(Date, &'static str)>, ClockError> {
    let d = |m: i8, day: i8| Date::new(year, m, day);
    let easter = easter_sunday(year)?;
    let mut v = vec![
        (d(1, 1)?, "Confraternização Universal"),
        (
            easter.checked_add((-2).days())?,
            "Paixão de Cristo (Good Friday)",
        ),
        (d(4, 21)?, "Tiradentes"),
        (d(5, 1)?, "Dia do Trabalho"),
        (d(9, 7)?, "Independência"),
        (d(10, 12)?, "Nossa Senhora Aparecida"),
        (d(11, 2)?, "Finados"),
        (d(11, 15)?, "Proclamação da República"),
        (d(12, 25)?, "Natal"),
    ];
    if year >= 2024 {
        v.push((d(11, 20)?, "Dia Nacional de Zumbi e da Consciência Negra"));
    }
    if optional_points {
        v.push((easter.checked_add((-48).days())?, "Carnaval (segunda)"));
        v.push((easter.checked_add((-47).days())?, "Carnaval (terça)"));
        v.push((easter.checked_add(60.days())?, "Corpus Christi"));
    }
    Ok(v)
}

/// The civil date of the instant `ms` in `tz`.
pub fn local_date(ms: i64, tz: &TimeZone) -> Result<Date, ClockError> {
    Ok(tz.to_datetime(Timestamp::from_millisecond(ms)?).date())
}

/// The last millisecond of `d` in `tz` (23:59:59.999 local; on a day with a
/// DST change this is still one millisecond before the next local midnight).
pub fn end_of_day(d: Date, tz: &TimeZone) -> Result<i64, ClockError> {
    let next = tz.to_zoned_datetime(d.tomorrow()?.at(0, 0, 0, 0))?;
    Ok(next.timestamp().as_millisecond() - 1)
}

/// The instant of `hh:mm` local on `d` in `tz` (DST gaps resolve forward).
pub fn at_local(d: Date, hh: i8, mm: i8, tz: &TimeZone) -> Result<i64, ClockError> {
    Ok(tz
        .to_zoned_datetime(d.at(hh, mm, 0, 0))?
        .timestamp()
        .as_millisecond())
}

/// `d` plus `n` calendar months: the same date, or the last day of the
/// target month when it has no such date (jiff constrains the day).
pub fn add_months(d: Date, n: u32) -> Result<Date, ClockError> {
    Ok(d.checked_add(i64::from(n).months())?)
}
