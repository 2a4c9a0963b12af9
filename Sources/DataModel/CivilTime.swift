/// Calendar arithmetic for the proleptic Gregorian calendar in UTC, without
/// Foundation: dates, times and timestamps are formatted and parsed on the
/// record path, where `DateFormatter` would cost microseconds each.
public enum CivilTime {
    public static let microsPerSecond: Int64 = 1_000_000
    public static let microsPerDay: Int64 = 86_400 * microsPerSecond

    /// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day count since 1970-01-01.
    public static func date(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `(days, microseconds into the day)`, flooring for instants before 1970.
    public static func split(micros: Int64) -> (days: Int64, micros: Int64) {
        var days = micros / microsPerDay
        var rest = micros % microsPerDay
        if rest < 0 {
            days -= 1
            rest += microsPerDay
        }
        return (days, rest)
    }

    /// 0 = Monday … 6 = Sunday (ISO 8601), for a day count since 1970-01-01 (a Thursday).
    public static func weekday(days: Int64) -> Int64 {
        let shifted = (days + 3) % 7
        return shifted < 0 ? shifted + 7 : shifted
    }

    // MARK: Formatting

    /// `YYYY-MM-DD`.
    public static func appendDate(days: Int64, to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { appendDate(days: days, to: &$0) }
    }

    public static func appendDate(days: Int64, to out: inout StagedBytes) {
        out.format(capacity: 32) { $0.date(days: days) }
    }

    /// `HH:MM:SS.fff` (milliseconds) or `HH:MM:SS.ffffff` (microseconds).
    /// Beyond a day the hours go on counting; before midnight, a `-` leads.
    public static func appendTime(micros: Int64, precision: Value.TimePrecision, to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { appendTime(micros: micros, precision: precision, to: &$0) }
    }

    public static func appendTime(micros: Int64, precision: Value.TimePrecision, to out: inout StagedBytes) {
        out.format(capacity: 32) { $0.time(micros: micros, precision: precision) }
    }

    /// `YYYY-MM-DDTHH:MM:SS.fff[fff]`, with `Z` when the instant is UTC.
    public static func appendTimestamp(micros: Int64, precision: Value.TimePrecision, utc: Bool, to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { appendTimestamp(micros: micros, precision: precision, utc: utc, to: &$0) }
    }

    public static func appendTimestamp(micros: Int64, precision: Value.TimePrecision, utc: Bool, to out: inout StagedBytes) {
        let (days, ofDay) = split(micros: micros)
        out.format(capacity: 64) { scratch in
            scratch.date(days: days)
            scratch.byte(UInt8(ascii: "T"))
            scratch.time(micros: ofDay, precision: precision)
            if utc { scratch.byte(UInt8(ascii: "Z")) }
        }
    }

    public static func formatTimestamp(micros: Int64, precision: Value.TimePrecision = .milliseconds) -> String {
        var out: [UInt8] = []
        appendTimestamp(micros: micros, precision: precision, utc: true, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Parsing

    /// Microseconds since the epoch of an RFC 3339 / ISO 8601 timestamp:
    /// `2026-11-23T17:12:54.891Z`, `…+02:00`, a space instead of `T`, up to
    /// nine fraction digits (truncated to microseconds). Without a zone the
    /// time is taken as UTC. A bare date is its midnight.
    public static func parseTimestamp(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parseTimestamp($0) }
    }

    static func parseTimestamp(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        func number(_ count: Int) -> Int64? {
            guard i + count <= b.count else { return nil }
            var value: Int64 = 0
            for _ in 0..<count {
                let digit = b[i] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
                i += 1
            }
            return value
        }
        func expect(_ byte: UInt8) -> Bool {
            guard i < b.count, b[i] == byte else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")),
            let day = number(2), (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        let midnight = days(year: year, month: month, day: day) * microsPerDay
        if i == b.count { return midnight }
        guard i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2), expect(UInt8(ascii: ":")),
            let second = number(2), hour < 24, minute < 60, second < 61
        else { return nil }
        var micros = midnight + ((hour * 60 + minute) * 60 + min(second, 59)) * microsPerSecond
        if expect(UInt8(ascii: ".")) {
            var scale: Int64 = 100_000
            var digits = 0
            while i < b.count, b[i] &- UInt8(ascii: "0") < 10 {
                if digits < 6 { micros += Int64(b[i] &- UInt8(ascii: "0")) * scale }
                scale /= 10
                digits += 1
                i += 1
            }
            guard (1...9).contains(digits) else { return nil }
        }
        if i == b.count { return micros }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "+") ? 1 : -1
            i += 1
            guard let offsetHours = number(2), expect(UInt8(ascii: ":")), let offsetMinutes = number(2),
                offsetHours < 24, offsetMinutes < 60
            else { return nil }
            micros -= sign * (offsetHours * 60 + offsetMinutes) * 60 * microsPerSecond
        } else {
            return nil
        }
        return i == b.count ? micros : nil
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension ASCIIScratch {
    /// At most 27 bytes, for a year of 20 digits: 13 for any `Value.date`.
    fileprivate mutating func date(days: Int64) {
        let (year, month, day) = CivilTime.date(days: days)
        if year < 0 { byte(UInt8(ascii: "-")) }
        digits(year.magnitude, width: 4)
        byte(UInt8(ascii: "-"))
        digits(UInt64(month), width: 2)
        byte(UInt8(ascii: "-"))
        digits(UInt64(day), width: 2)
    }

    /// 15 bytes for a time of day, at most 24 for any microseconds.
    fileprivate mutating func time(micros: Int64, precision: Value.TimePrecision) {
        if micros < 0 { byte(UInt8(ascii: "-")) }
        let micros = micros.magnitude
        let seconds = micros / UInt64(CivilTime.microsPerSecond)
        digits(seconds / 3600, width: 2)
        byte(UInt8(ascii: ":"))
        digits(seconds / 60 % 60, width: 2)
        byte(UInt8(ascii: ":"))
        digits(seconds % 60, width: 2)
        byte(UInt8(ascii: "."))
        let fraction = micros % UInt64(CivilTime.microsPerSecond)
        switch precision {
        case .milliseconds: digits(fraction / 1000, width: 3)
        case .microseconds: digits(fraction, width: 6)
        }
    }
}
