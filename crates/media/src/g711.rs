//! G.711 µ-law (PCMU) and A-law (PCMA), ITU-T G.711 (11/88).
//!
//! # Scale
//! Linear samples are 16-bit two's complement, *left-justified* exactly as in the
//! ITU-T G.191 software tools library (STL) `g711` module: the 14-bit µ-law range
//! (decoder outputs ±8031 in G.711 Table 2a units) is multiplied by 4, the 13-bit
//! A-law range (±4032 in Table 1a units) by 8. So µ-law `0x80` decodes to
//! `+32124` (= 8031 × 4), `0x00` to `-32124`, `0xFF`/`0x7F` to `0`; A-law `0xAA`
//! decodes to `+32256` (= 4032 × 8), `0xD5` to `+8`, `0x55` to `-8`.
//!
//! Encoding follows the G.711 decision levels: magnitudes are biased (µ-law, +33
//! in 14-bit units) or split into segments (A-law), the segment is the position
//! of the leading one, and the result has the even bits (A-law, `0x55`) or all
//! bits (µ-law) inverted for transmission (G.711 §3 and §4).
//!
//! Decoding goes through 256-entry tables built at compile time, encoding is a
//! few integer operations: both are allocation-free and branch-light.

/// Encodes one 16-bit linear sample as G.711 µ-law (G.711 §4, Table 2a).
#[must_use]
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let x = i32::from(sample);
    // Magnitude in 14-bit units plus the µ-law bias of 33. Negative values use the
    // one's complement as in the G.191 STL, so -1 maps to the negative zero code.
    let biased = if x < 0 {
        ((!x) >> 2) + 33
    } else {
        (x >> 2) + 33
    };
    let biased = biased.min(0x1FFF);
    // Segment number 1..=8: position of the leading one above bit 5.
    let segment = 32 - ((biased >> 6) as u32).leading_zeros() + 1;
    let high = 8 - segment as i32;
    let low = 0x0F - ((biased >> segment) & 0x0F);
    let code = (high << 4) | low;
    let code = if x >= 0 { code | 0x80 } else { code };
    // `code` is within 0..=0xFF by construction: high is 0..=7, low 0..=15.
    code as u8
}

/// Decodes one G.711 µ-law code to a 16-bit linear sample (G.711 §4, Table 2a).
#[must_use]
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Encodes one 16-bit linear sample as G.711 A-law (G.711 §3, Table 1a).
#[must_use]
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let x = i32::from(sample);
    // 12-bit magnitude (one's complement for negative values, as in G.191).
    let mut ix = if x < 0 { (!x) >> 4 } else { x >> 4 };
    if ix > 15 {
        let mut exponent = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            exponent += 1;
        }
        ix -= 16;
        ix += exponent << 4;
    }
    if x >= 0 {
        ix |= 0x80;
    }
    // ix <= 0xFF: exponent <= 7 and mantissa <= 15, plus the sign bit.
    (ix ^ 0x55) as u8
}

/// Decodes one G.711 A-law code to a 16-bit linear sample (G.711 §3, Table 1a).
#[must_use]
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

const fn ulaw_expand(code: u8) -> i16 {
    let inverted = !code;
    let exponent = ((inverted >> 4) & 0x07) as i32;
    let mantissa = (inverted & 0x0F) as i32;
    let step = 4 << (exponent + 1);
    // Reconstruction point in the middle of the quantisation interval, minus the bias.
    let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
    if code < 0x80 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_expand(code: u8) -> i16 {
    let ix = (code ^ 0x55) & 0x7F;
    let exponent = (ix >> 4) as i32;
    let mut mantissa = (ix & 0x0F) as i32;
    if exponent > 0 {
        mantissa += 16;
    }
    mantissa = (mantissa << 4) + 0x08;
    if exponent > 1 {
        mantissa <<= exponent - 1;
    }
    if code > 127 {
        mantissa as i16
    } else {
        -mantissa as i16
    }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_expand(i as u8)
        } else {
            ulaw_expand(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_TABLE: [i16; 256] = build_table(false);
static ALAW_TABLE: [i16; 256] = build_table(true);

/// Encodes `pcm` into `out` as µ-law; encodes `min(pcm.len(), out.len())` samples
/// and returns that count.
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = linear_to_ulaw(s);
    }
    n
}

/// Decodes µ-law `codes` into `out`; returns the number of samples written.
pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = ulaw_to_linear(c);
    }
    n
}

/// Encodes `pcm` into `out` as A-law; returns the number of samples encoded.
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = linear_to_alaw(s);
    }
    n
}

/// Decodes A-law `codes` into `out`; returns the number of samples written.
pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = alaw_to_linear(c);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_reference_points() {
        // G.711 Table 2a / G.191 STL, 16-bit left-justified scale (× 4).
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        // First step of the second segment: 14-bit output value 33 (× 4).
        assert_eq!(ulaw_to_linear(0xEF), 132);
        // Largest reconstruction in segment 0 is 30 in 14-bit units.
        assert_eq!(ulaw_to_linear(0xF0), 120);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    }

    #[test]
    fn alaw_reference_points() {
        // G.711 Table 1a / G.191 STL, 16-bit left-justified scale (× 8).
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn segment_ends_match_g711_tables() {
        // G.711 Table 2a (µ-law), decoder output in 14-bit units, positive codes:
        // first and last value of each of the 8 segments. Code 0xFF is the first
        // step of segment 1; codes decrease through the table.
        let ulaw_first = [0, 33, 99, 231, 495, 1023, 2079, 4191];
        let ulaw_last = [30, 93, 219, 471, 975, 1983, 3999, 8031];
        for seg in 0..8u8 {
            let first = 0xFF - seg * 16;
            let last = first - 15;
            assert_eq!(
                ulaw_to_linear(first) / 4,
                ulaw_first[seg as usize],
                "µ-law segment {seg} start"
            );
            assert_eq!(
                ulaw_to_linear(last) / 4,
                ulaw_last[seg as usize],
                "µ-law segment {seg} end"
            );
            assert_eq!(ulaw_to_linear(first & 0x7F), -ulaw_to_linear(first));
        }
        // G.711 Table 1a (A-law), decoder output in 13-bit units (full scale 4096),
        // positive codes, written before the even-bit (0x55) inversion.
        let alaw_first = [1, 33, 66, 132, 264, 528, 1056, 2112];
        let alaw_last = [31, 63, 126, 252, 504, 1008, 2016, 4032];
        for seg in 0..8u8 {
            let first = (0x80 | (seg << 4)) ^ 0x55;
            let last = (0x80 | (seg << 4) | 0x0F) ^ 0x55;
            assert_eq!(
                alaw_to_linear(first) / 8,
                alaw_first[seg as usize],
                "A-law segment {seg} start"
            );
            assert_eq!(
                alaw_to_linear(last) / 8,
                alaw_last[seg as usize],
                "A-law segment {seg} end"
            );
        }
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            let u = ulaw_to_linear(code);
            // The two µ-law zero codes both decode to 0 and re-encode as +0.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(linear_to_ulaw(u), expected, "µ-law {code:#04x}");
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#04x}"
            );
        }
    }

    #[test]
    fn decoders_are_monotonic() {
        let mut ulaw: Vec<i16> = (0..=255u8).map(ulaw_to_linear).collect();
        let mut alaw: Vec<i16> = (0..=255u8).map(alaw_to_linear).collect();
        ulaw.sort_unstable();
        alaw.sort_unstable();
        ulaw.dedup();
        alaw.dedup();
        assert_eq!(ulaw.len(), 255, "µ-law has 255 distinct levels (two zeros)");
        assert_eq!(alaw.len(), 256);
    }
}
