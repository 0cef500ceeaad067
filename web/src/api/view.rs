//! How a track is shown by the API (the TRACK document of `web/API.md`).

use serde_json::{Value, json};

use crate::objects::output_name;
use crate::tracks::Track;

/// The TRACK document.
pub fn track(t: &Track) -> Value {
    json!({
        "id": t.id,
        "filename": t.filename,
        "size": t.size,
        "content_type": t.content_type,
        "status": t.status.name(),
        "error": t.error,
        "created_at": iso8601(t.created_at),
        "updated_at": iso8601(t.updated_at),
        "spec": t.spec,
        "output_filename": output_name(&t.filename, t.spec.extension()),
        "report": t.report,
    })
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn iso8601(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_8601_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_796_212_800_000), "2026-12-02T12:00:00.000Z");
    }
}
