//! A reader for the MessagePack that Redis's bundled `cmsgpack.pack` writes, for script replies
//! too big to send as nested RESP arrays.
//!
//! Why: a script's reply is converted by Redis element by element from Lua tables to RESP (a
//! handful of table lookups and a reply write per element), then parsed element by element by
//! the client. A batch that takes 50 jobs returns about a thousand strings. Packed in Lua (C
//! code, one buffer), it leaves as one bulk string and is read here in one pass.
//!
//! Only what `cmsgpack.pack` produces from Lua values is needed: nil, booleans, integers,
//! doubles, strings (also the older raw/bin forms) and arrays; maps are read too so that a
//! Lua table with holes is an error with a reason rather than a panic.

use std::fmt;

/// One decoded value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

/// Where and why a packed reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub(crate) at: usize,
    pub(crate) what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "packed reply: {} at byte {}", self.what, self.at)
    }
}

/// Decodes one value that must fill `buf` exactly.
pub(crate) fn decode(buf: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let v = r.value(0)?;
    if r.pos != buf.len() {
        return Err(r.err("trailing bytes"));
    }
    Ok(v)
}

/// Nesting deeper than any reply of ours: a guard against a corrupt length loop.
const MAX_DEPTH: usize = 16;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError { at: self.pos, what }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or_else(|| self.err("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// The length that follows a string, array or map tag, in the tag's width.
    fn len(&mut self, tag: u8) -> Result<usize, DecodeError> {
        let width = match tag {
            0xc4 | 0xd9 => 1,
            0xc5 | 0xda | 0xdc | 0xde => 2,
            _ => 4,
        };
        Ok(self.uint(width)? as usize)
    }

    fn bytes(&mut self, n: usize) -> Result<Value, DecodeError> {
        Ok(Value::Bytes(self.take(n)?.to_vec()))
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        // Each element takes at least one byte: a length beyond what is left is corrupt.
        if n > self.buf.len() - self.pos {
            return Err(self.err("array longer than the reply"));
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        if n > (self.buf.len() - self.pos) / 2 {
            return Err(self.err("map longer than the reply"));
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            items.push((k, self.value(depth + 1)?));
        }
        Ok(Value::Map(items))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deep"));
        }
        let tag = self.take(1)?[0];
        match tag {
            0x00..=0x7f => Ok(Value::Int(i64::from(tag))),
            0x80..=0x8f => self.map(usize::from(tag & 0x0f), depth),
            0x90..=0x9f => self.array(usize::from(tag & 0x0f), depth),
            0xa0..=0xbf => self.bytes(usize::from(tag & 0x1f)),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Bool(false)),
            0xc3 => Ok(Value::Bool(true)),
            0xc4..=0xc6 | 0xd9..=0xdb => {
                let n = self.len(tag)?;
                self.bytes(n)
            }
            0xca => Ok(Value::Float(f64::from(f32::from_bits(self.uint(4)? as u32)))),
            0xcb => Ok(Value::Float(f64::from_bits(self.uint(8)?))),
            0xcc => Ok(Value::Int(self.uint(1)? as i64)),
            0xcd => Ok(Value::Int(self.uint(2)? as i64)),
            0xce => Ok(Value::Int(self.uint(4)? as i64)),
            0xcf => i64::try_from(self.uint(8)?).map(Value::Int).map_err(|_| self.err("integer above i64")),
            0xd0 => Ok(Value::Int(i64::from(self.uint(1)? as u8 as i8))),
            0xd1 => Ok(Value::Int(i64::from(self.uint(2)? as u16 as i16))),
            0xd2 => Ok(Value::Int(i64::from(self.uint(4)? as u32 as i32))),
            0xd3 => Ok(Value::Int(self.uint(8)? as i64)),
            0xdc | 0xdd => {
                let n = self.len(tag)?;
                self.array(n, depth)
            }
            0xde | 0xdf => {
                let n = self.len(tag)?;
                self.map(n, depth)
            }
            0xe0..=0xff => Ok(Value::Int(i64::from(tag as i8))),
            _ => Err(DecodeError { at: self.pos - 1, what: "unknown type byte" }),
        }
    }
}

impl Value {
    /// An integer, also from an integral double (Lua 5.1 numbers are doubles).
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    }

    /// Text: a string, or a number as Lua's tostring would write an integer.
    pub(crate) fn into_string(self) -> Option<String> {
        match self {
            Value::Bytes(b) => String::from_utf8(b).ok(),
            Value::Int(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_cmsgpack_writes() {
        // cmsgpack.pack({-3, 1700000000000, 'abc', {}, {'x', string.rep('y', 40)}, false}),
        // as Redis 7.0 returned it.
        let mut buf = vec![0x96, 0xfd, 0xcf, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0xa3, b'a', b'b', b'c'];
        buf.extend([0x90, 0x92, 0xa1, b'x', 0xd9, 40]);
        buf.extend(std::iter::repeat_n(b'y', 40));
        buf.push(0xc2);
        let v = decode(&buf).unwrap();
        let Value::Array(items) = v else { panic!("not an array") };
        assert_eq!(items[0].as_i64(), Some(-3));
        assert_eq!(items[1].as_i64(), Some(1_700_000_000_000));
        assert_eq!(items[2], Value::Bytes(b"abc".to_vec()));
        assert_eq!(items[3], Value::Array(vec![]));
        assert_eq!(items[4], Value::Array(vec![Value::Bytes(b"x".to_vec()), Value::Bytes(vec![b'y'; 40])]));
        assert_eq!(items[5], Value::Bool(false));
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        assert_eq!(decode(&[0x92, 0x01]).unwrap_err().what, "array longer than the reply");
        assert_eq!(decode(&[0xd9, 0x05, b'a']).unwrap_err().what, "truncated");
        assert_eq!(decode(&[0x01, 0x02]).unwrap_err().what, "trailing bytes");
        assert_eq!(decode(&[0xc1]).unwrap_err().what, "unknown type byte");
        assert_eq!(decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]).unwrap_err().what, "array longer than the reply");
        let deep = vec![0x91; 40];
        assert_eq!(decode(&deep).unwrap_err().what, "nested too deep");
    }
}
