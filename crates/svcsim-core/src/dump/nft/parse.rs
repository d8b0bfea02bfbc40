//! Reading `nft list ruleset` output into [`Table`]s: each table's chains, sets and maps, and
//! each chain's base-chain line and rules. Lenient where it can be: an object svcsim does not
//! model (a flowtable, a named counter) is skipped, and an expression it does not evaluate is
//! kept by name ([`super::expr`]); text that is no listing at all is an error at its line.

use super::expr::{self, Cursor};
use super::lex::{T, Tok, lex};
use super::ruleset::{Base, Chain, ChainType, FAMILIES, Family, Hook, Kind, Set, Table};
use crate::dump::DumpError;

/// Reads `text`. A table that cannot be read is reported at its line and the next is read.
pub fn parse(text: &str) -> Result<Vec<Table>, Vec<DumpError>> {
    let toks = lex(text).map_err(|line| vec![err(line, "a quoted string is not closed on its line".into())])?;
    let mut p = Parser { text, toks: &toks, i: 0, errors: Vec::new() };
    let mut tables = Vec::new();
    while let Some(stmt) = p.statement() {
        if stmt.is_empty() {
            if p.at(T::Close) {
                let line = p.toks[p.i].line;
                p.errors.push(err(line, "a `}` closes nothing".into()));
                p.i += 1;
            }
            continue;
        }
        let stray = !matches!(stmt[0].t, T::Word("table"));
        match p.table(&stmt) {
            Ok(t) => tables.push(t),
            Err(mut e) => {
                // Text outside any table is one error, however many lines run to the next one.
                if stray {
                    let last = p.skip_to_table().unwrap_or(e.line);
                    if last > e.line {
                        e.message.push_str(&format!(" (lines {}-{last} are not nft list ruleset output)", e.line));
                    }
                }
                p.errors.push(e);
            }
        }
    }
    if p.errors.is_empty() { Ok(tables) } else { Err(p.errors) }
}

fn err(line: usize, message: String) -> DumpError {
    DumpError { line, message }
}

struct Parser<'t, 'a> {
    text: &'a str,
    toks: &'t [Tok<'a>],
    i: usize,
    errors: Vec<DumpError>,
}

/// The value of a standard priority name in the `ip`, `ip6` and `inet` families.
fn named_priority(name: &str) -> Option<i32> {
    Some(match name {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        _ => return None,
    })
}

impl<'t, 'a> Parser<'t, 'a> {
    fn at(&self, t: T<'_>) -> bool {
        self.toks.get(self.i).is_some_and(|k| k.t == t)
    }

    /// The next statement's tokens: up to a line end or `;` outside braces, through any
    /// `{ … }` (whose line ends are kept out). Stops before a `}` that closes the enclosing
    /// block, and `None` at the end of the text.
    fn statement(&mut self) -> Option<Vec<Tok<'a>>> {
        if self.i >= self.toks.len() {
            return None;
        }
        let mut out = Vec::new();
        let mut depth = 0usize;
        while let Some(&tok) = self.toks.get(self.i) {
            match tok.t {
                T::Nl | T::Semi if depth == 0 => {
                    self.i += 1;
                    if !out.is_empty() {
                        break;
                    }
                    continue;
                }
                T::Nl => {}
                T::Close if depth == 0 => break,
                T::Close => {
                    depth -= 1;
                    out.push(tok);
                }
                T::Open => {
                    depth += 1;
                    out.push(tok);
                }
                _ => out.push(tok),
            }
            self.i += 1;
            // A block opened at the end of a statement (`table ip nat {`) holds statements.
            if tok.t == T::Open && depth == 1 && self.opens_block(&out) {
                break;
            }
        }
        Some(out)
    }

    /// Whether `stmt` so far is the head of a block: `table …{`, `chain …{`, `set …{`.
    fn opens_block(&self, stmt: &[Tok<'_>]) -> bool {
        matches!(stmt.first().map(|t| t.t), Some(T::Word("table" | "chain" | "set" | "map")))
            && stmt.iter().filter(|t| t.t == T::Open).count() == 1
    }

    /// Consumes the `}` that closes a block; `Err` at the end of the text.
    fn close(&mut self, what: &str, line: usize) -> Result<(), DumpError> {
        if self.at(T::Close) {
            self.i += 1;
            Ok(())
        } else {
            Err(err(line, format!("{what} is not closed by a `}}`")))
        }
    }

    /// Skips top-level statements up to the next `table`; the last skipped line, if any.
    fn skip_to_table(&mut self) -> Option<usize> {
        let mut last = None;
        while let Some(tok) = self.toks.get(self.i) {
            if tok.t == T::Word("table") && self.i > 0 && self.toks[self.i - 1].t == T::Nl {
                break;
            }
            if !matches!(tok.t, T::Nl) {
                last = Some(tok.line);
            }
            self.i += 1;
        }
        last
    }

    /// Skips the rest of a block opened by a statement the reader does not model.
    fn skip_block(&mut self) {
        while self.statement().is_some_and(|s| !s.is_empty() || !self.at(T::Close)) {}
        if self.at(T::Close) {
            self.i += 1;
        }
    }

    fn table(&mut self, head: &[Tok<'a>]) -> Result<Table, DumpError> {
        let line = head[0].line;
        let head_words = words(head);
        let (family_name, name) = match head_words.as_slice() {
            ["table", family, name] if head.last().map(|t| t.t) == Some(T::Open) => (*family, *name),
            _ => {
                self.skip_block_if_open(head);
                return Err(err(line, format!("expected `table <family> <name> {{`, found `{}`", self.slice(head))));
            }
        };
        let Some(family) = Family::of(family_name) else {
            self.skip_block();
            return Err(err(line, format!("{family_name} is not a table family ({})", FAMILIES.join(", "))));
        };
        let mut t = Table {
            family,
            family_name: family_name.into(),
            name: name.into(),
            dormant: false,
            chains: Vec::new(),
            sets: Vec::new(),
            line,
        };
        while let Some(stmt) = self.statement() {
            if stmt.is_empty() {
                break;
            }
            match words(&stmt).as_slice() {
                ["chain", name] if opens(&stmt) => {
                    let chain = self.chain(name, stmt[0].line)?;
                    t.chains.push(chain);
                }
                [kind @ ("set" | "map"), name] if opens(&stmt) => {
                    let set = self.set(name, *kind == "map", stmt[0].line)?;
                    t.sets.push(set);
                }
                ["flags", flags @ ..] => t.dormant = flags.contains(&"dormant"),
                _ => self.skip_block_if_open(&stmt),
            }
        }
        self.close(&format!("table {family_name} {name}"), line)?;
        Ok(t)
    }

    fn skip_block_if_open(&mut self, stmt: &[Tok<'_>]) {
        if opens(stmt) {
            self.skip_block();
        }
    }

    fn chain(&mut self, name: &str, line: usize) -> Result<Chain, DumpError> {
        let mut chain = Chain { name: name.into(), base: None, rules: Vec::new(), line };
        let mut policy_drop = false;
        while let Some(stmt) = self.statement() {
            if stmt.is_empty() {
                break;
            }
            let w = words(&stmt);
            match w.first().copied() {
                Some("type") => chain.base = Some(base(&w).map_err(|m| err(stmt[0].line, m))?),
                Some("policy") => policy_drop = w.get(1) == Some(&"drop"),
                Some("comment") if stmt.len() == 2 => {}
                Some("devices" | "device") => {}
                _ => chain.rules.push(expr::rule(self.text, &stmt)),
            }
        }
        if let Some(b) = &mut chain.base {
            b.policy_drop = policy_drop;
        }
        self.close(&format!("chain {name}"), line)?;
        Ok(chain)
    }

    fn set(&mut self, name: &str, is_map: bool, line: usize) -> Result<Set, DumpError> {
        let mut set = Set { name: name.into(), key: Vec::new(), is_map, verdict_map: false, elements: Vec::new() };
        while let Some(stmt) = self.statement() {
            if stmt.is_empty() {
                break;
            }
            let w = words(&stmt);
            match w.first().copied() {
                Some("type") => {
                    let (key, value) = split_map_type(&w[1..]);
                    set.key = key.iter().filter(|c| **c != ".").map(|c| Kind::of_type(c)).collect();
                    set.verdict_map = value == Some("verdict");
                }
                Some("typeof") => {
                    let (key, value) = split_map_type(&w[1..]);
                    set.key = expr::typeof_kinds(key);
                    set.verdict_map = value == Some("verdict");
                }
                Some("elements") => {
                    let open = stmt.iter().position(|t| t.t == T::Open).unwrap_or(stmt.len());
                    let mut c = Cursor::new(self.text, &stmt[open..]);
                    let kinds = set.key.clone();
                    set.elements = c.elements(&kinds, set.verdict_map).map_err(|m| err(stmt[0].line, m))?;
                }
                _ => {}
            }
        }
        self.close(&format!("{} {name}", if is_map { "map" } else { "set" }), line)?;
        Ok(set)
    }

    fn slice(&self, toks: &[Tok<'_>]) -> &'a str {
        match (toks.first(), toks.last()) {
            (Some(a), Some(b)) => &self.text[a.start..b.end],
            _ => "",
        }
    }
}

/// The statement's words, without a trailing `{`.
fn words<'a>(stmt: &[Tok<'a>]) -> Vec<&'a str> {
    stmt.iter()
        .filter_map(|t| match t.t {
            T::Word(w) | T::Str(w) => Some(w),
            _ => None,
        })
        .collect()
}

/// Whether the statement ends by opening a block.
fn opens(stmt: &[Tok<'_>]) -> bool {
    stmt.last().map(|t| t.t) == Some(T::Open)
}

/// `ipv4_addr . inet_service : verdict` → (key words, value type).
fn split_map_type<'w, 'a>(w: &'w [&'a str]) -> (&'w [&'a str], Option<&'a str>) {
    match w.iter().position(|x| *x == ":") {
        Some(i) => (&w[..i], w.get(i + 1).copied()),
        None => (w, None),
    }
}

/// `type filter hook prerouting priority dstnat - 10` (the policy comes after a `;`).
fn base(w: &[&str]) -> Result<Base, String> {
    let type_ = match w.get(1).copied() {
        Some("filter") => ChainType::Filter,
        Some("nat") => ChainType::Nat,
        Some("route") => ChainType::Route,
        other => return Err(format!("{} is not a chain type (filter, nat, route)", other.unwrap_or("nothing"))),
    };
    let hook = match (w.get(2), w.get(3)) {
        (Some(&"hook"), Some(h)) => Hook::of(h),
        _ => return Err("a base chain's `type` names its `hook`".into()),
    };
    let at = w.iter().position(|x| *x == "priority").ok_or("a base chain's `type` gives its `priority`")?;
    let priority = priority(&w[at + 1..]).ok_or_else(|| format!("`{}` is not a priority", w[at + 1..].join(" ")))?;
    Ok(Base { type_, hook, priority, policy_drop: false })
}

/// `-110`, `filter`, `dstnat - 10`, `srcnat + 5`.
fn priority(w: &[&str]) -> Option<i32> {
    let first = *w.first()?;
    let base = named_priority(first).or_else(|| first.parse().ok())?;
    match w.get(1..3) {
        Some(["+", n]) => Some(base + n.parse::<i32>().ok()?),
        Some(["-", n]) => Some(base - n.parse::<i32>().ok()?),
        _ => Some(base),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_read_as_nft_prints_them() {
        assert_eq!(priority(&["dstnat", "-", "10"]), Some(-110));
        assert_eq!(priority(&["-110"]), Some(-110));
        assert_eq!(priority(&["srcnat"]), Some(100));
        assert_eq!(priority(&["filter", "+", "5"]), Some(5));
        assert_eq!(priority(&["soon"]), None);
    }

    #[test]
    fn elements_are_read_across_lines() {
        let text = "table ip t {\n\tmap m {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n\t\telements = { 10.0.0.1 . tcp . 80 : goto a,\n\t\t\t     10.0.0.2 . udp . 53 : drop }\n\t}\n\tchain a {\n\t}\n}\n";
        let tables = parse(text).unwrap();
        let m = &tables[0].sets[0];
        assert!(m.verdict_map);
        assert_eq!(m.elements.len(), 2);
        assert_eq!(m.elements[1].text, "10.0.0.2 . udp . 53 : drop");
    }

    #[test]
    fn text_that_is_no_listing_is_an_error_at_its_line() {
        let e = parse("table ip t {\n\tchain c {\n\t\taccept\n\t}\n}\nhello world\n").unwrap_err();
        assert_eq!(e[0].to_string(), "line 6: expected `table <family> <name> {`, found `hello world`");
        let e = parse("table ip t {\n\tchain c {\n").unwrap_err();
        assert_eq!(e[0].to_string(), "line 2: chain c is not closed by a `}`");
        let e = parse("table ip t {\n\tchain c {\n\t\tiifname \"eth0 accept\n").unwrap_err();
        assert_eq!(e[0].to_string(), "line 3: a quoted string is not closed on its line");
    }
}
