//! Splitting an Opus multistream packet into its streams' packets (RFC 6716 §3.2 and appendix
//! B; RFC 7845 §5.1.1): every stream but the last is in the self-delimiting framing, which
//! carries one more frame length than the standard framing so that the next stream's packet can
//! be found; the last stream's packet takes the rest. Each is returned in the standard framing,
//! so a plain one-stream libopus decoder reads it.

/// A frame length (§3.2.1) at `data[*at]`: one byte below 252, else two; `at` moves past it.
fn frame_len(data: &[u8], at: &mut usize) -> Option<usize> {
    let b0 = usize::from(*data.get(*at)?);
    if b0 < 252 {
        *at += 1;
        return Some(b0);
    }
    let b1 = usize::from(*data.get(*at + 1)?);
    *at += 2;
    Some(b1 * 4 + b0)
}

/// The first packet of `data`, in the self-delimiting framing, rewritten in the standard
/// framing; and what follows it. `None` when the bytes do not hold such a packet.
fn self_delimited(data: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let toc = *data.first()?;
    let mut at = 1;
    let mut out = vec![toc];
    let body = match toc & 3 {
        // One frame: its length is the extra field.
        0 => frame_len(data, &mut at)?,
        // Two frames of equal size: one length, for each.
        1 => frame_len(data, &mut at)?.checked_mul(2)?,
        // Two frames: the first's length (kept), then the second's (the extra field).
        2 => {
            let first = at;
            let n1 = frame_len(data, &mut at)?;
            out.extend_from_slice(&data[first..at]);
            n1 + frame_len(data, &mut at)?
        }
        // A frame count byte, padding, then lengths: every frame's when VBR (the last one is
        // the extra field), or the one shared size when CBR (the extra field).
        _ => {
            let count_byte = *data.get(at)?;
            at += 1;
            out.push(count_byte);
            let frames = usize::from(count_byte & 0x3f);
            if frames == 0 {
                return None;
            }
            let mut padding = 0usize;
            if count_byte & 0x40 != 0 {
                loop {
                    let b = *data.get(at)?;
                    at += 1;
                    out.push(b);
                    if b == 255 {
                        padding += 254;
                    } else {
                        padding += usize::from(b);
                        break;
                    }
                }
            }
            let sizes = if count_byte & 0x80 != 0 {
                let mut total = 0usize;
                for i in 0..frames {
                    let start = at;
                    total += frame_len(data, &mut at)?;
                    if i + 1 < frames {
                        out.extend_from_slice(&data[start..at]);
                    }
                }
                total
            } else {
                frame_len(data, &mut at)?.checked_mul(frames)?
            };
            sizes.checked_add(padding)?
        }
    };
    let end = at.checked_add(body)?;
    out.extend_from_slice(data.get(at..end)?);
    Some((out, &data[end..]))
}

/// The packets of the `streams` streams of one multistream packet, in the standard framing;
/// `None` when `packet` is malformed.
pub(super) fn split(packet: &[u8], streams: usize) -> Option<Vec<Vec<u8>>> {
    if streams == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(streams);
    let mut rest = packet;
    for _ in 1..streams {
        let (one, after) = self_delimited(rest)?;
        out.push(one);
        rest = after;
    }
    out.push(rest.to_vec());
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `len` as a frame length field.
    fn len_field(len: usize) -> Vec<u8> {
        if len < 252 { vec![len as u8] } else { vec![(252 + len % 4) as u8, ((len - 252) / 4) as u8] }
    }

    /// `packet` (standard framing) in the self-delimiting framing: the inverse of what
    /// [`split`] does, for the codes 0–2 the encoders here produce and code 3 CBR.
    pub(crate) fn to_self_delimited(packet: &[u8]) -> Vec<u8> {
        let toc = packet[0];
        let mut out = vec![toc];
        match toc & 3 {
            0 => {
                out.extend(len_field(packet.len() - 1));
                out.extend_from_slice(&packet[1..]);
            }
            1 => {
                out.extend(len_field((packet.len() - 1) / 2));
                out.extend_from_slice(&packet[1..]);
            }
            2 => {
                let mut at = 1;
                let n1 = frame_len(packet, &mut at).expect("a length");
                out.extend_from_slice(&packet[1..at]);
                out.extend(len_field(packet.len() - at - n1));
                out.extend_from_slice(&packet[at..]);
            }
            _ => {
                let count = packet[1];
                assert_eq!(count & 0xc0, 0, "CBR without padding only");
                out.push(count);
                out.extend(len_field((packet.len() - 2) / usize::from(count & 0x3f)));
                out.extend_from_slice(&packet[2..]);
            }
        }
        out
    }

    #[test]
    fn lengths_use_one_or_two_bytes() {
        for n in [0, 1, 251, 252, 253, 300, 1275] {
            let field = len_field(n);
            let mut at = 0;
            assert_eq!(frame_len(&field, &mut at), Some(n));
            assert_eq!(at, field.len());
        }
    }

    #[test]
    fn every_framing_code_splits_back_into_its_packets() {
        let code0 = [vec![0b0000_1000], vec![7u8; 300]].concat();
        let code1 = [vec![0b0000_1001], vec![1u8; 20], vec![2u8; 20]].concat();
        let code2 = [vec![0b0000_1010, 5], vec![3u8; 5], vec![4u8; 9]].concat();
        let code3 = [vec![0b0000_1011, 3], vec![5u8; 12]].concat();
        let last = [vec![0b0000_1000], vec![9u8; 40]].concat();
        let packets = [code0, code1, code2, code3, last];
        let joined: Vec<u8> =
            packets[..4].iter().flat_map(|p| to_self_delimited(p)).chain(packets[4].iter().copied()).collect();
        assert_eq!(split(&joined, 5), Some(packets.to_vec()));
        assert_eq!(split(&joined, 1), Some(vec![joined.clone()]), "one stream: the packet itself");
    }

    #[test]
    fn padded_vbr_code_3_loses_only_its_extra_length() {
        // Two frames of 3 and 4 bytes, 256 bytes of padding (255 → 254, then 2).
        let standard = [vec![0b0000_1011, 0xc2, 255, 2, 3], vec![1u8; 7], vec![0u8; 256]].concat();
        let delimited = [vec![0b0000_1011, 0xc2, 255, 2, 3, 4], vec![1u8; 7], vec![0u8; 256]].concat();
        let joined = [delimited, vec![0b0000_1000, 42]].concat();
        assert_eq!(split(&joined, 2), Some(vec![standard, vec![0b0000_1000, 42]]));
    }

    #[test]
    fn malformed_packets_are_refused_not_read_past() {
        assert_eq!(split(&[], 2), None);
        assert_eq!(split(&[0b0000_1000, 10, 1, 2], 2), None, "length past the end");
        assert_eq!(split(&[0b0000_1011, 0], 2), None, "no frames");
        assert_eq!(split(&[0b0000_1000], 0), None);
        assert_eq!(split(&[0b0000_1011, 0x41, 255], 2), None, "padding past the end");
    }
}
