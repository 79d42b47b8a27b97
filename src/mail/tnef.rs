//! The files inside a `winmail.dat` (TNEF, `application/ms-tnef`): what
//! Outlook sends in its rich-text mode instead of ordinary attachments.
//! Neither customers nor agents can open it, so its files are taken out
//! and passed on as the attachments they were meant to be.
//!
//! Only what carries files is read: the attachment blocks (`attAttachRendData`
//! starts one, `attAttachTitle` names it, `attAttachData` holds its bytes)
//! and, for the long file name, the attachment's MAPI properties
//! (`PR_ATTACH_LONG_FILENAME`). The body stays in the mail's text part,
//! which Outlook sends beside it. Every length is checked: a broken file
//! gives `None` and the `winmail.dat` is passed on as it came.

const SIGNATURE: u32 = 0x223E_9F78;
const LVL_ATTACHMENT: u8 = 2;
const ATT_ATTACH_REND_DATA: u32 = 0x0006_9002;
const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
const ATT_ATTACH_DATA: u32 = 0x0006_800F;
const ATT_ATTACHMENT: u32 = 0x0006_9005;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_ATTACH_MIME_TAG: u16 = 0x370E;

/// One file from a TNEF stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.data.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

/// The files in a TNEF stream; `None` when it is not one or is broken.
pub fn files(data: &[u8]) -> Option<Vec<File>> {
    let mut r = Reader { data, at: 0 };
    if r.u32()? != SIGNATURE {
        return None;
    }
    r.u16()?; // legacy key
    let mut files: Vec<File> = Vec::new();
    while !r.done() {
        let level = r.u8()?;
        let id = r.u32()?;
        let len = r.u32()? as usize;
        let value = r.take(len)?;
        r.u16()?; // checksum
        if level != LVL_ATTACHMENT {
            continue;
        }
        match id {
            ATT_ATTACH_REND_DATA => files.push(File {
                name: String::new(),
                content_type: None,
                bytes: Vec::new(),
            }),
            ATT_ATTACH_TITLE => {
                if let Some(f) = files.last_mut()
                    && f.name.is_empty()
                {
                    f.name = string8(value);
                }
            }
            ATT_ATTACH_DATA => {
                if let Some(f) = files.last_mut() {
                    f.bytes = value.to_vec();
                }
            }
            ATT_ATTACHMENT => {
                if let Some(f) = files.last_mut() {
                    let props = properties(value).unwrap_or_default();
                    for (tag, v) in props {
                        match tag {
                            PR_ATTACH_LONG_FILENAME if !v.is_empty() => f.name = v,
                            PR_ATTACH_MIME_TAG if !v.is_empty() => f.content_type = Some(v),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    files.retain(|f| !f.bytes.is_empty() || !f.name.is_empty());
    for (n, f) in files.iter_mut().enumerate() {
        if f.name.trim().is_empty() {
            f.name = format!("attachment-{}", n + 1);
        }
    }
    Some(files)
}

/// A NUL-terminated 8-bit string (Outlook writes the sender's code page;
/// names are nearly always ASCII, the rest is read as Latin-1).
fn string8(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b[..end].iter().map(|&c| c as char).collect()
}

/// The string-valued MAPI properties of a property block: (id, value).
fn properties(data: &[u8]) -> Option<Vec<(u16, String)>> {
    let mut r = Reader { data, at: 0 };
    let count = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..count.min(10_000) {
        let ptype = r.u16()?;
        let pid = r.u16()?;
        if pid >= 0x8000 {
            // A named property: GUID, then a number or a name.
            r.take(16)?;
            let kind = r.u32()?;
            if kind == 0 {
                r.u32()?;
            } else {
                let len = r.u32()? as usize;
                r.take(padded(len)?)?;
            }
        }
        let multi = ptype & 0x1000 != 0;
        let base = ptype & !0x1000;
        let values = if multi || matches!(base, 0x001E | 0x001F | 0x0102 | 0x000D) {
            r.u32()?
        } else {
            1
        };
        for _ in 0..values.min(10_000) {
            match base {
                0x0002 | 0x0003 | 0x000B | 0x0004 | 0x000A => {
                    r.take(4)?;
                }
                0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => {
                    r.take(8)?;
                }
                0x0048 => {
                    r.take(16)?;
                }
                0x001E | 0x001F | 0x0102 | 0x000D => {
                    let len = r.u32()? as usize;
                    let v = r.take(padded(len)?)?.get(..len)?;
                    let s = match base {
                        0x001E => string8(v),
                        0x001F => utf16(v),
                        _ => continue,
                    };
                    out.push((pid, s));
                }
                _ => return Some(out),
            }
        }
    }
    Some(out)
}

fn padded(len: usize) -> Option<usize> {
    len.checked_add(3).map(|l| l & !3)
}

fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn attr(out: &mut Vec<u8>, level: u8, id: u32, value: &[u8]) {
        out.push(level);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
        let sum: u32 = value.iter().map(|&b| u32::from(b)).sum();
        out.extend_from_slice(&((sum & 0xFFFF) as u16).to_le_bytes());
    }

    /// A winmail.dat the way Outlook writes one: message attributes, then
    /// per file its rendering block, 8.3 title, data and properties with
    /// the long name in UTF-16.
    pub(crate) fn winmail(files: &[(&str, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&SIGNATURE.to_le_bytes());
        out.extend_from_slice(&0x0001u16.to_le_bytes());
        attr(&mut out, 1, 0x0008_9006, &[0u8; 4]); // attTnefVersion-ish
        attr(&mut out, 1, 0x0001_8004, b"Invoice\0"); // attSubject
        for (short, long, bytes) in files {
            attr(&mut out, 2, ATT_ATTACH_REND_DATA, &[0u8; 14]);
            let mut title = short.as_bytes().to_vec();
            title.push(0);
            attr(&mut out, 2, ATT_ATTACH_TITLE, &title);
            attr(&mut out, 2, ATT_ATTACH_DATA, bytes);
            let mut props = Vec::new();
            props.extend_from_slice(&2u32.to_le_bytes());
            // PT_LONG PR_ATTACH_METHOD = 1
            props.extend_from_slice(&0x0003u16.to_le_bytes());
            props.extend_from_slice(&0x3705u16.to_le_bytes());
            props.extend_from_slice(&1u32.to_le_bytes());
            // PT_UNICODE PR_ATTACH_LONG_FILENAME
            let mut name: Vec<u8> = long.encode_utf16().flat_map(u16::to_le_bytes).collect();
            name.extend_from_slice(&[0, 0]);
            props.extend_from_slice(&0x001Fu16.to_le_bytes());
            props.extend_from_slice(&PR_ATTACH_LONG_FILENAME.to_le_bytes());
            props.extend_from_slice(&1u32.to_le_bytes());
            props.extend_from_slice(&(name.len() as u32).to_le_bytes());
            let len = name.len();
            props.extend_from_slice(&name);
            props.resize(props.len() + (padded(len).unwrap_or(len) - len), 0);
            attr(&mut out, 2, ATT_ATTACHMENT, &props);
        }
        out
    }

    #[test]
    fn files_come_out_with_their_long_names() {
        let data = winmail(&[
            ("FAKTUR~1.PDF", "faktura grudzień.pdf", b"%PDF-1.4 x"),
            ("PHOTO.JPG", "photo.jpg", b"\xFF\xD8\xFF"),
        ]);
        let files = files(&data).expect("reads");
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].name, "faktura grudzień.pdf");
        assert_eq!(files[0].bytes, b"%PDF-1.4 x");
        assert_eq!(files[1].name, "photo.jpg");
    }

    #[test]
    fn broken_streams_are_none_never_a_panic() {
        let data = winmail(&[("A.TXT", "a.txt", b"hello")]);
        assert!(files(b"not tnef").is_none());
        for cut in 0..data.len() {
            let _ = files(&data[..cut]);
        }
        let mut flipped = data.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xFF;
            let _ = files(&flipped);
            flipped[i] ^= 0xFF;
        }
    }
}
