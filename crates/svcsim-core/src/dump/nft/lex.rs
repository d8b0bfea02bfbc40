//! The words of an `nft list ruleset` listing: words, quoted strings, braces, commas, semicolons
//! and line ends, each with its line and its place in the text. `#` starts a comment to the end
//! of the line (`# Warning: table ip nat is managed by iptables-nft`, `# handle 4`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum T<'a> {
    Word(&'a str),
    /// A quoted string, without its quotes.
    Str(&'a str),
    Open,
    Close,
    Comma,
    Semi,
    Nl,
}

#[derive(Debug, Clone, Copy)]
pub struct Tok<'a> {
    pub t: T<'a>,
    pub line: usize,
    /// Byte offsets of the token in the text (quotes included).
    pub start: usize,
    pub end: usize,
}

/// Splits `text` into tokens; an unclosed quote is `Err(line)`.
pub fn lex(text: &str) -> Result<Vec<Tok<'_>>, usize> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < bytes.len() {
        let start = i;
        let one = |t| Tok { t, line, start, end: start + 1 };
        match bytes[i] {
            b'\n' => {
                out.push(one(T::Nl));
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' | b'}' | b',' | b';' => {
                out.push(one(match bytes[i] {
                    b'{' => T::Open,
                    b'}' => T::Close,
                    b',' => T::Comma,
                    _ => T::Semi,
                }));
                i += 1;
            }
            b'"' => {
                let close = text[i + 1..].find(['"', '\n']).map(|j| i + 1 + j);
                match close {
                    Some(j) if bytes[j] == b'"' => {
                        out.push(Tok { t: T::Str(&text[i + 1..j]), line, start, end: j + 1 });
                        i = j + 1;
                    }
                    _ => return Err(line),
                }
            }
            _ => {
                while i < bytes.len() && !b" \t\r\n{},;\"".contains(&bytes[i]) {
                    i += 1;
                }
                out.push(Tok { t: T::Word(&text[start..i]), line, start, end: i });
            }
        }
    }
    Ok(out)
}
