//! The fast path of `headroom forecast`'s CSV reader: rows found with their commas in one
//! pass over the bytes, plain numbers and whole Unix seconds read without the general parsers.

use crate::clock::{TimeForm, parse_timestamp};

/// The non-blank lines of a CSV text, each with its 1-based number (blank lines count) and,
/// when it holds no quote, the positions of its commas: one pass over the bytes finds the end
/// of the line and its commas together.
pub(super) struct Rows<'a> {
    text: &'a str,
    at: usize,
    line: usize,
    commas: Vec<usize>,
}

impl<'a> Rows<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Rows {
            text,
            at: 0,
            line: 0,
            commas: Vec::with_capacity(8),
        }
    }

    /// The next non-blank line, without its `\n` or `\r\n`: `(number, line, commas)`, the
    /// commas `None` when the line has a quote (it needs the full CSV rules).
    pub(super) fn next(&mut self) -> Option<(usize, &'a str, Option<&[usize]>)> {
        let bytes = self.text.as_bytes();
        while self.at < bytes.len() {
            self.line += 1;
            let start = self.at;
            self.commas.clear();
            let mut quote = false;
            let mut end = start;
            // Eight bytes at a time: the positions of newlines, commas and quotes in a word are
            // the zero bytes of the word XOR each of them.
            'scan: while end + 8 <= bytes.len() {
                let word = u64::from_le_bytes(bytes[end..end + 8].try_into().unwrap_or([0; 8]));
                let newline = zero_bytes(word ^ (ONES * u64::from(b'\n')));
                let mut commas = zero_bytes(word ^ (ONES * u64::from(b',')));
                let stop = if newline == 0 {
                    8
                } else {
                    newline.trailing_zeros() as usize / 8
                };
                let within = if stop == 8 { u64::MAX } else { (1u64 << (stop * 8)) - 1 };
                quote |= zero_bytes(word ^ (ONES * u64::from(b'"'))) & within != 0;
                while commas != 0 {
                    let at = commas.trailing_zeros() as usize / 8;
                    if at >= stop {
                        break;
                    }
                    self.commas.push(end + at - start);
                    commas &= commas - 1;
                }
                end += stop;
                if stop < 8 {
                    break 'scan;
                }
            }
            while end < bytes.len() {
                match bytes[end] {
                    b'\n' => break,
                    b',' => self.commas.push(end - start),
                    b'"' => quote = true,
                    _ => {}
                }
                end += 1;
            }
            self.at = end + 1;
            let line = &self.text[start..end];
            let line = line.strip_suffix('\r').unwrap_or(line);
            // A line that starts with a visible character is not blank, the common case.
            if line.as_bytes().first().is_some_and(u8::is_ascii_graphic) || !line.trim().is_empty() {
                return Some((self.line, line, (!quote).then_some(self.commas.as_slice())));
            }
        }
        None
    }
}

/// A byte of ones in each of the eight bytes of a word.
pub(super) const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each zero byte of `word`, exactly (no carries between bytes).
pub(super) fn zero_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((word & LOW7) + LOW7) | word) & !LOW7
}

/// `field` without surrounding white space (ASCII first, the cheap case).
pub(super) fn trim(field: &str) -> &str {
    let trimmed = field.trim_ascii();
    match (trimmed.as_bytes().first(), trimmed.as_bytes().last()) {
        (Some(first), Some(last)) if !first.is_ascii() || !last.is_ascii() => trimmed.trim(),
        _ => trimmed,
    }
}

/// A plain decimal (`-12.5`, `0.125`, `300`) read exactly as the general parser would, when
/// its digits fit in 53 bits and it has at most 22 decimals: an integer divided by a power
/// of ten, both exact in binary, is then correctly rounded. `None` for anything else.
pub(super) fn parse_plain_decimal(text: &str) -> Option<f64> {
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    if digits.len() > 20 {
        return None;
    }
    let (mut mantissa, mut decimals, mut seen_point, mut count) = (0u64, 0usize, false, 0usize);
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
                decimals += usize::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    if count == 0 || count > 19 || mantissa > 1 << 53 || decimals >= POWERS.len() {
        return None;
    }
    let value = mantissa as f64 / POWERS[decimals];
    Some(if negative { -value } else { value })
}

/// Parses Unix seconds (whole seconds without the general float parser, the common case)
/// or RFC 3339, with the form it was written in.
pub(super) fn read_timestamp(text: &str) -> Option<(f64, TimeForm)> {
    if (1..=15).contains(&text.len()) {
        let mut seconds = 0u64;
        let mut digits = true;
        for &b in text.as_bytes() {
            digits &= b.is_ascii_digit();
            seconds = seconds * 10 + u64::from(b.wrapping_sub(b'0'));
        }
        if digits {
            return Some((seconds as f64, TimeForm::UnixSeconds));
        }
    }
    parse_timestamp(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_at_their_commas_whatever_their_length() {
        let text = "a,1,2\nlonger-id-than-a-word,1700000000,-12.5\n\n,,\nq,\"x,y\",3\r\nend,1,2";
        let mut rows = Rows::new(text);
        let mut seen = Vec::new();
        while let Some((line, row, commas)) = rows.next() {
            seen.push((line, row.to_string(), commas.map(<[usize]>::to_vec)));
        }
        assert_eq!(
            seen,
            vec![
                (1, "a,1,2".to_string(), Some(vec![1, 3])),
                (
                    2,
                    "longer-id-than-a-word,1700000000,-12.5".to_string(),
                    Some(vec![21, 32])
                ),
                (4, ",,".to_string(), Some(vec![0, 1])),
                (5, "q,\"x,y\",3".to_string(), None),
                (6, "end,1,2".to_string(), Some(vec![3, 5])),
            ]
        );
        assert_eq!(zero_bytes(0x2C01_2C2D_0000_2C2C ^ (ONES * 0x2C)), 0x8000_8000_0000_8080);
    }

    #[test]
    fn plain_decimals_read_as_the_general_parser_reads_them() {
        for text in [
            "0",
            "300",
            "-12.5",
            "0.1",
            "123.456",
            "1000000.25",
            "9007199254740992",
            "0.000000000000000001",
        ] {
            assert_eq!(
                parse_plain_decimal(text),
                Some(text.parse::<f64>().expect("number")),
                "{text}"
            );
        }
        for text in [
            "1e5",
            "NaN",
            "inf",
            "1.2.3",
            "",
            "-",
            ".",
            "12345678901234567890",
            "+1",
            "0.12345678901234567890123",
        ] {
            assert!(
                parse_plain_decimal(text).is_none_or(|v| text.parse::<f64>().ok() == Some(v)),
                "{text}"
            );
        }
        assert_eq!(parse_plain_decimal("."), None);
    }
}
