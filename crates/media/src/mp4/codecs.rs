//! What an init segment holds: per track, its kind, its RFC 6381 codec string
//! (for the master playlist's CODECS), and its picture size or audio format.

use super::boxes::{Mp4Error, child, children};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackKind {
    Video { width: u16, height: u16 },
    Audio { channels: u16, sample_rate: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    pub kind: TrackKind,
    /// e.g. `avc1.4d401e`, `mp4a.40.2`; `None` for a codec we do not name.
    pub codec: Option<String>,
}

fn need<'a>(data: &'a [u8], kind: &'static [u8; 4], name: &'static str) -> Result<&'a [u8], Mp4Error> {
    Ok(child(data, kind)?.ok_or(Mp4Error::Missing(name))?.payload)
}

/// The tracks of an init segment (`ftyp` + `moov`).
pub fn tracks(init: &[u8]) -> Result<Vec<TrackInfo>, Mp4Error> {
    let moov = need(init, b"moov", "moov")?;
    let mut out = Vec::new();
    for trak in children(moov) {
        let trak = trak?;
        if !trak.is(b"trak") {
            continue;
        }
        let mdia = need(trak.payload, b"mdia", "mdia")?;
        let stbl = need(need(mdia, b"minf", "minf")?, b"stbl", "stbl")?;
        let stsd = need(stbl, b"stsd", "stsd")?;
        // stsd: version/flags (4), entry count (4), then sample entries.
        let entries = stsd.get(8..).ok_or(Mp4Error::Malformed("stsd"))?;
        let Some(entry) = children(entries).next().transpose()? else { continue };
        if let Some(info) = sample_entry(&entry.kind, entry.payload)? {
            out.push(info);
        }
    }
    Ok(out)
}

fn sample_entry(kind: &[u8; 4], p: &[u8]) -> Result<Option<TrackInfo>, Mp4Error> {
    match kind {
        b"avc1" | b"avc3" => {
            // VisualSampleEntry: 8 bytes SampleEntry, 16 pre-defined/reserved,
            // width, height, then 50 more bytes before the child boxes.
            let get = |i: usize| p.get(i).copied().ok_or(Mp4Error::Malformed("avc1"));
            let width = u16::from_be_bytes([get(24)?, get(25)?]);
            let height = u16::from_be_bytes([get(26)?, get(27)?]);
            let boxes = p.get(78..).ok_or(Mp4Error::Malformed("avc1"))?;
            let codec = match child(boxes, b"avcC")? {
                // AVCDecoderConfigurationRecord: version, profile, compatibility, level.
                Some(avcc) if avcc.payload.len() >= 4 => Some(format!(
                    "{}.{:02x}{:02x}{:02x}",
                    String::from_utf8_lossy(kind),
                    avcc.payload[1],
                    avcc.payload[2],
                    avcc.payload[3]
                )),
                _ => None,
            };
            Ok(Some(TrackInfo { kind: TrackKind::Video { width, height }, codec }))
        }
        b"mp4a" => {
            // AudioSampleEntry: 8 SampleEntry, 8 reserved, channels, sample size,
            // 4 pre-defined/reserved, sample rate 16.16, then child boxes.
            let get = |i: usize| p.get(i).copied().ok_or(Mp4Error::Malformed("mp4a"));
            let entry_channels = u16::from_be_bytes([get(16)?, get(17)?]);
            let sample_rate = u32::from(u16::from_be_bytes([get(24)?, get(25)?]));
            let boxes = p.get(28..).ok_or(Mp4Error::Malformed("mp4a"))?;
            let config = match child(boxes, b"esds")? {
                Some(esds) => esds.payload.get(4..).and_then(audio_config),
                None => None,
            };
            let channels = config.as_ref().and_then(|(_, ch)| *ch).unwrap_or(entry_channels);
            let codec = config.map(|(codec, _)| codec);
            Ok(Some(TrackInfo { kind: TrackKind::Audio { channels, sample_rate }, codec }))
        }
        _ => Ok(None),
    }
}

/// An MPEG-4 descriptor: tag, then a length in 7-bit groups (ISO 14496-1).
fn descriptor(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *data.first()?;
    let mut len = 0usize;
    let mut i = 1;
    loop {
        let b = *data.get(i)?;
        len = (len << 7) | usize::from(b & 0x7f);
        i += 1;
        if b & 0x80 == 0 || i > 4 {
            break;
        }
    }
    let body = data.get(i..i.checked_add(len)?)?;
    Some((tag, body, &data[i + len..]))
}

/// What the ES_Descriptor says: `mp4a.<objectTypeIndication>[.<audioObjectType>]`
/// and, from the AudioSpecificConfig, the channel configuration, which is the
/// truth where the sample entry's channel count is not (ffmpeg writes 2 for mono).
fn audio_config(es: &[u8]) -> Option<(String, Option<u16>)> {
    let (tag, body, _) = descriptor(es)?;
    if tag != 0x03 {
        return None;
    }
    let flags = *body.get(2)?;
    let mut i = 3;
    if flags & 0x80 != 0 {
        i += 2;
    }
    if flags & 0x40 != 0 {
        i += 1 + usize::from(*body.get(i)?);
    }
    if flags & 0x20 != 0 {
        i += 2;
    }
    let (tag, config, _) = descriptor(body.get(i..)?)?;
    if tag != 0x04 {
        return None;
    }
    let object_type = *config.first()?;
    // DecoderSpecificInfo follows 13 bytes of DecoderConfigDescriptor fields.
    let asc = descriptor(config.get(13..)?).filter(|(t, _, _)| *t == 0x05).map(|(_, asc, _)| asc);
    let parsed = asc.and_then(audio_specific_config);
    let codec = match parsed {
        Some((aot, _)) if object_type == 0x40 => format!("mp4a.40.{aot}"),
        _ => format!("mp4a.{object_type:02x}"),
    };
    Some((codec, parsed.and_then(|(_, ch)| (ch > 0).then_some(u16::from(ch)))))
}

/// (audioObjectType, channelConfiguration) from an AudioSpecificConfig (ISO 14496-3).
fn audio_specific_config(asc: &[u8]) -> Option<(u8, u8)> {
    let mut bits = Bits { data: asc, pos: 0 };
    let mut aot = bits.take(5)? as u8;
    if aot == 31 {
        aot = 32 + bits.take(6)? as u8;
    }
    if bits.take(4)? == 15 {
        bits.take(24)?; // explicit sampling frequency
    }
    Some((aot, bits.take(4)? as u8))
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn take(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &[u8] = include_bytes!("../../tests/fixtures/init_h264_main_aac.mp4");

    #[test]
    fn reads_an_ffmpeg_init_segment() {
        let t = tracks(INIT).unwrap();
        assert_eq!(
            t,
            vec![
                TrackInfo { kind: TrackKind::Video { width: 640, height: 360 }, codec: Some("avc1.4d401e".into()) },
                TrackInfo {
                    kind: TrackKind::Audio { channels: 1, sample_rate: 48000 },
                    codec: Some("mp4a.40.2".into())
                },
            ]
        );
    }

    #[test]
    fn audio_specific_config_bits() {
        // AAC-LC (2), 48 kHz (index 3), stereo (2): 00010 0011 0010 000
        assert_eq!(audio_specific_config(&[0x11, 0x90]), Some((2, 2)));
        // HE-AAC signalled as object type 5, 44.1 kHz, mono.
        assert_eq!(audio_specific_config(&[0x2a, 0x08]), Some((5, 1)));
        assert_eq!(audio_specific_config(&[0x11]), None);
    }

    #[test]
    fn every_truncation_is_an_error_or_fewer_tracks_never_a_panic() {
        for n in 0..INIT.len() {
            let _ = tracks(&INIT[..n]);
        }
        let mut flipped = INIT.to_vec();
        for i in (0..flipped.len()).step_by(7) {
            flipped[i] ^= 0xff;
            let _ = tracks(&flipped);
            flipped[i] ^= 0xff;
        }
        assert!(tracks(b"not an mp4").is_err());
    }

    #[test]
    fn a_sample_entry_cut_anywhere_is_malformed_not_a_panic() {
        // A whole entry reads; each shorter one (a header cut mid-field, e.g.
        // after the width's first byte) is an error, never an index panic.
        let mut entry = vec![0u8; 78];
        entry[24..28].copy_from_slice(&[0x02, 0x80, 0x01, 0x68]);
        let whole = sample_entry(b"avc1", &entry).unwrap().unwrap();
        assert_eq!(whole.kind, TrackKind::Video { width: 640, height: 360 });
        for kind in [b"avc1", b"avc3", b"mp4a"] {
            for n in 0..28 {
                assert!(sample_entry(kind, &entry[..n]).is_err(), "{} cut at {n}", String::from_utf8_lossy(kind));
            }
        }
    }
}
