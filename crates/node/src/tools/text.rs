//! Small formatting helpers shared by the dumps: times, data previews, ACLs.

use base64::Engine as _;
use paddock_types::acl::{perms_string, Acl};

/// `ms` since the Unix epoch as RFC 3339 UTC with milliseconds (`2026-12-06T06:25:00.000Z`):
/// the same text on every machine, whatever its time zone (ZooKeeper's tools print local time).
pub fn time(ms: i64) -> String {
    paddock_types::clock::rfc3339_ms(ms)
}

/// A zxid or session id as ZooKeeper's tools print them: `0x` and lowercase hex.
pub fn hex(v: i64) -> String {
    format!("0x{:x}", v as u64)
}

/// The first `limit` bytes of `data`: as text when they are UTF-8 without control characters
/// (`Preview::Text`), otherwise base64.
pub enum Preview {
    Text(String),
    Base64(String),
}

pub struct DataPreview {
    pub preview: Preview,
    /// Fewer bytes shown than the data holds.
    pub truncated: bool,
}

pub fn preview(data: &[u8], limit: usize) -> DataPreview {
    let mut cut = data.len().min(limit);
    let shown = &data[..cut];
    let text = match std::str::from_utf8(shown) {
        Ok(s) => Some(s),
        // Cut in the middle of a character: shorten to the last whole one.
        Err(e) if e.error_len().is_none() => {
            cut = e.valid_up_to();
            std::str::from_utf8(&data[..cut]).ok()
        }
        Err(_) => None,
    };
    let preview = match text {
        Some(s) if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
            Preview::Text(s.to_string())
        }
        _ => {
            cut = shown.len();
            Preview::Base64(base64::engine::general_purpose::STANDARD.encode(shown))
        }
    };
    DataPreview {
        preview,
        truncated: cut < data.len(),
    }
}

/// `scheme:id:perms` entries, comma-separated (zkCli's `getAcl` on one line).
pub fn acl(list: &[Acl]) -> String {
    list.iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, perms_string(a.perms)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_show_text_or_base64_and_say_when_cut() {
        let p = preview(b"hello", 3);
        assert!(matches!(p.preview, Preview::Text(ref s) if s == "hel") && p.truncated);
        let p = preview("é!".as_bytes(), 1);
        assert!(matches!(p.preview, Preview::Text(ref s) if s.is_empty()) && p.truncated);
        let p = preview(&[0, 1, 2], 10);
        assert!(matches!(p.preview, Preview::Base64(ref s) if s == "AAEC") && !p.truncated);
    }
}

/// A JSON object whose keys stay in the order they were put (a `serde_json::Map` sorts them,
/// and its order-keeping feature would change every other JSON answer of the binary): the
/// header fields first, then the operation's.
#[derive(Default)]
pub struct Obj(Vec<(&'static str, String)>);

impl Obj {
    pub fn new() -> Obj {
        Obj::default()
    }

    /// Adds `key: value`.
    pub fn put(&mut self, key: &'static str, value: impl Into<serde_json::Value>) -> &mut Obj {
        self.0.push((key, value.into().to_string()));
        self
    }

    /// Adds `key: [objects]`.
    pub fn put_objs(&mut self, key: &'static str, values: Vec<Obj>) -> &mut Obj {
        let items: Vec<String> = values.iter().map(Obj::to_json).collect();
        self.0.push((key, format!("[{}]", items.join(","))));
        self
    }

    pub fn to_json(&self) -> String {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(*k)))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

/// An ACL as JSON objects.
pub fn acl_objs(list: &[Acl]) -> Vec<Obj> {
    list.iter()
        .map(|a| {
            let mut o = Obj::new();
            o.put("scheme", a.id.scheme.clone())
                .put("id", a.id.id.clone())
                .put("perms", perms_string(a.perms));
            o
        })
        .collect()
}

/// `data_length`, and the preview of up to `limit` bytes: `data` (text) or `data_base64`,
/// with `data_truncated`.
pub fn put_data(o: &mut Obj, data: &paddock_types::Data, limit: usize) {
    o.put("data_length", data.len());
    if data.is_null() {
        o.put("data_null", true);
        return;
    }
    if limit > 0 && !data.is_empty() {
        let p = preview(data, limit);
        match p.preview {
            Preview::Text(t) => o.put("data", t),
            Preview::Base64(b) => o.put("data_base64", b),
        };
        o.put("data_truncated", p.truncated);
    }
}
