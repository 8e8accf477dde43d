//! AMF0, the encoding of RTMP commands: decoded with a depth bound,
//! encoded for the server's replies.

use crate::RtmpError;

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0a;
const DATE: u8 = 0x0b;
const LONG_STRING: u8 = 0x0c;
/// Commands nest a level or two; anything deeper is an attack.
const MAX_DEPTH: u32 = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    String(String),
    Object(Vec<(String, Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Value)>),
    StrictArray(Vec<Value>),
    Date(f64),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A property of an object or ECMA array.
    pub fn property(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) => p.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn object<const N: usize>(properties: [(&str, Value); N]) -> Value {
        Value::Object(properties.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    pub fn string(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

fn amf(what: &'static str) -> RtmpError {
    RtmpError::Amf(what)
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], RtmpError> {
        let end = self.at.checked_add(n).ok_or(amf("length overflows"))?;
        let s = self.buf.get(self.at..end).ok_or(amf("truncated"))?;
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, RtmpError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, RtmpError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> Result<usize, RtmpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn f64(&mut self) -> Result<f64, RtmpError> {
        let b = self.take(8)?;
        Ok(f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    fn utf8(&mut self, len: usize) -> Result<String, RtmpError> {
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|_| amf("string is not UTF-8"))
    }

    fn properties(&mut self, depth: u32) -> Result<Vec<(String, Value)>, RtmpError> {
        let mut out = Vec::new();
        loop {
            let len = self.u16()?;
            let key = self.utf8(len)?;
            if key.is_empty() && self.buf.get(self.at) == Some(&OBJECT_END) {
                self.at += 1;
                return Ok(out);
            }
            out.push((key, self.value(depth + 1)?));
        }
    }

    fn value(&mut self, depth: u32) -> Result<Value, RtmpError> {
        if depth > MAX_DEPTH {
            return Err(amf("nested too deep"));
        }
        Ok(match self.u8()? {
            NUMBER => Value::Number(self.f64()?),
            BOOLEAN => Value::Boolean(self.u8()? != 0),
            STRING => {
                let n = self.u16()?;
                Value::String(self.utf8(n)?)
            }
            LONG_STRING => {
                let n = self.u32()?;
                Value::String(self.utf8(n)?)
            }
            NULL => Value::Null,
            UNDEFINED => Value::Undefined,
            OBJECT => Value::Object(self.properties(depth)?),
            ECMA_ARRAY => {
                self.take(4)?;
                Value::EcmaArray(self.properties(depth)?)
            }
            STRICT_ARRAY => {
                let n = self.u32()?;
                // Each element is at least one byte: a count beyond what is
                // left is a lie, and must not size an allocation.
                if n > self.buf.len() - self.at {
                    return Err(amf("array longer than its message"));
                }
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.value(depth + 1)?);
                }
                Value::StrictArray(v)
            }
            DATE => {
                let ms = self.f64()?;
                self.take(2)?;
                Value::Date(ms)
            }
            _ => return Err(amf("unsupported value type")),
        })
    }
}

/// Every value in `buf`, in order.
pub fn decode(buf: &[u8]) -> Result<Vec<Value>, RtmpError> {
    let mut r = Reader { buf, at: 0 };
    let mut out = Vec::new();
    while r.at < buf.len() {
        out.push(r.value(0)?);
    }
    Ok(out)
}

fn put_utf8(out: &mut Vec<u8>, s: &str) {
    // Property names and short strings: a u16 length. Longer values go out
    // as long strings; names are never that long here.
    let n = s.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..n]);
}

fn put_properties(out: &mut Vec<u8>, props: &[(String, Value)]) {
    for (k, v) in props {
        put_utf8(out, k);
        put(out, v);
    }
    out.extend_from_slice(&[0, 0, OBJECT_END]);
}

fn put(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Number(n) => {
            out.push(NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Boolean(b) => out.extend_from_slice(&[BOOLEAN, u8::from(*b)]),
        Value::String(s) if s.len() > usize::from(u16::MAX) => {
            out.push(LONG_STRING);
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::String(s) => {
            out.push(STRING);
            put_utf8(out, s);
        }
        Value::Object(p) => {
            out.push(OBJECT);
            put_properties(out, p);
        }
        Value::Null => out.push(NULL),
        Value::Undefined => out.push(UNDEFINED),
        Value::EcmaArray(p) => {
            out.push(ECMA_ARRAY);
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            put_properties(out, p);
        }
        Value::StrictArray(items) => {
            out.push(STRICT_ARRAY);
            out.extend_from_slice(&(items.len() as u32).to_be_bytes());
            for i in items {
                put(out, i);
            }
        }
        Value::Date(ms) => {
            out.push(DATE);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
}

pub fn encode(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        put(&mut out, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let values = vec![
            Value::string("connect"),
            Value::Number(1.0),
            Value::object([
                ("app", Value::string("live")),
                ("fpad", Value::Boolean(false)),
                ("nested", Value::EcmaArray(vec![("x".into(), Value::Null)])),
                ("list", Value::StrictArray(vec![Value::Undefined, Value::Date(5.0)])),
            ]),
        ];
        let bytes = encode(&values);
        assert_eq!(decode(&bytes).unwrap(), values);
        assert_eq!(values[2].property("app").and_then(Value::as_str), Some("live"));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(decode(&[STRING, 0, 5, b'a']).is_err(), "truncated");
        assert!(decode(&[0x42]).is_err(), "unknown type");
        assert!(decode(&[STRICT_ARRAY, 0xff, 0xff, 0xff, 0xff]).is_err(), "a count larger than the message");
        let deep: Vec<u8> = std::iter::repeat_n([OBJECT, 0, 1, b'a'], 20).flatten().collect();
        assert_eq!(decode(&deep), Err(RtmpError::Amf("nested too deep")));
        assert!(decode(&[STRING, 0, 2, 0xff, 0xfe]).is_err(), "not UTF-8");
    }
}
