//! A rule's expressions as `nft list` prints them, read left to right into [`Expr`]s: the
//! matches and statements kube-proxy's nftables mode writes, and those iptables-nft and common
//! firewalls write next to them. An expression svcsim does not evaluate becomes
//! [`Match::Unknown`] or [`Stmt::Unknown`] with its text, up to the next expression's first
//! word, so the walk can name it.

use std::net::IpAddr;

use super::lex::{T, Tok};
use super::ruleset::{BitOp, Element, Expr, Field, Kind, MapRef, Match, Op, Rhs, Rule, Stmt, Val, Verdict};
use crate::net::IpCidr;

/// The words an expression or statement starts with: where an unknown one ends.
const HEADS: &[&str] = &[
    "ip",
    "ip6",
    "meta",
    "ct",
    "tcp",
    "udp",
    "sctp",
    "th",
    "fib",
    "numgen",
    "iifname",
    "oifname",
    "iif",
    "oif",
    "mark",
    "accept",
    "drop",
    "reject",
    "return",
    "continue",
    "jump",
    "goto",
    "counter",
    "log",
    "limit",
    "masquerade",
    "snat",
    "dnat",
    "redirect",
    "notrack",
    "queue",
    "xt",
    "update",
    "add",
    "comment",
];

/// Reads one rule from its statement's tokens.
pub fn rule(text: &str, toks: &[Tok<'_>]) -> Rule {
    let line = toks[0].line;
    let whole = &text[toks[0].start..toks[toks.len() - 1].end];
    let mut c = Cursor::new(text, toks);
    let mut exprs = Vec::new();
    let mut comment = None;
    while !c.done() {
        if c.word() == Some("comment")
            && let Some(T::Str(s)) = c.peek_at(1)
        {
            comment = Some(s.to_string());
            c.i += 2;
            continue;
        }
        exprs.push(c.expr());
    }
    Rule { line, text: whole.to_string(), comment, exprs }
}

/// The kinds of a set's `typeof ip daddr . tcp dport`.
pub fn typeof_kinds(words: &[&str]) -> Vec<Option<Kind>> {
    words
        .split(|w| *w == ".")
        .map(|sel| match sel {
            [a, b] => field_of(a, b).map(Field::kind),
            [one] => bare_field(one).map(Field::kind),
            _ => None,
        })
        .collect()
}

/// `ip saddr`, `meta l4proto`, `tcp dport`…: the field two words name.
fn field_of(a: &str, b: &str) -> Option<Field> {
    Some(match (a, b) {
        ("ip", "saddr") => Field::Saddr { v6: false },
        ("ip", "daddr") => Field::Daddr { v6: false },
        ("ip6", "saddr") => Field::Saddr { v6: true },
        ("ip6", "daddr") => Field::Daddr { v6: true },
        ("ip", "protocol") | ("ip6", "nexthdr") | ("meta", "l4proto") => Field::L4proto,
        ("tcp" | "udp" | "sctp" | "th", "sport" | "dport") => {
            let proto = proto_number(a).filter(|_| a != "th");
            if b == "sport" { Field::Sport { proto } } else { Field::Dport { proto } }
        }
        ("meta", "iifname") => Field::Iifname,
        ("meta", "oifname") => Field::Oifname,
        ("meta", "iif") => Field::Iif,
        ("meta", "oif") => Field::Oif,
        ("meta", "mark") => Field::Mark,
        ("meta", "nfproto") => Field::Nfproto,
        ("ct", "state") => Field::CtState,
        ("ct", "status") => Field::CtStatus,
        _ => return None,
    })
}

/// `iifname`, `oifname`, `iif`, `oif`, `mark`, which nft prints without `meta`.
fn bare_field(a: &str) -> Option<Field> {
    Some(match a {
        "iifname" => Field::Iifname,
        "oifname" => Field::Oifname,
        "iif" => Field::Iif,
        "oif" => Field::Oif,
        "mark" => Field::Mark,
        _ => return None,
    })
}

fn proto_number(name: &str) -> Option<u8> {
    Some(match name {
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        "icmp" => 1,
        "icmpv6" | "ipv6-icmp" => 58,
        n => n.parse().ok()?,
    })
}

/// A number as nft prints it: decimal or `0x…`.
fn int(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// One value of `kind`, as listed.
fn val(kind: Kind, s: &str) -> Option<Val> {
    fn range(s: &str) -> Option<(&str, &str)> {
        s.split_once('-')
    }
    Some(match kind {
        Kind::Addr => {
            if let Some((a, b)) = range(s)
                && let (Ok(a), Ok(b)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>())
            {
                return Some(Val::AddrRange(a, b));
            }
            if s.contains('/') {
                Val::Cidr(s.parse().ok()?)
            } else {
                Val::Cidr(IpCidr::host(s.parse::<IpAddr>().ok()?))
            }
        }
        Kind::Port => match range(s) {
            Some((a, b)) => Val::Ports(port(a)?, port(b)?),
            None => Val::Ports(port(s)?, port(s)?),
        },
        Kind::Proto => Val::Proto(proto_number(s)?),
        Kind::Iface => Val::Iface(s.to_string()),
        Kind::Int => match range(s) {
            Some((a, b)) => Val::Ints(int(a)?, int(b)?),
            None => Val::Ints(int(s)?, int(s)?),
        },
        Kind::Flag => Val::Flag(s.to_string()),
    })
}

/// A port number, or the service names nft prints with `-S`.
fn port(s: &str) -> Option<u16> {
    Some(match s {
        "ssh" => 22,
        "domain" => 53,
        "http" => 80,
        "https" => 443,
        n => n.parse().ok()?,
    })
}

/// A position in one statement's tokens.
pub struct Cursor<'t, 'a> {
    text: &'a str,
    toks: &'t [Tok<'a>],
    pub i: usize,
}

impl<'t, 'a> Cursor<'t, 'a> {
    pub fn new(text: &'a str, toks: &'t [Tok<'a>]) -> Cursor<'t, 'a> {
        Cursor { text, toks, i: 0 }
    }
    fn done(&self) -> bool {
        self.i >= self.toks.len()
    }
    fn peek_at(&self, n: usize) -> Option<T<'a>> {
        self.toks.get(self.i + n).map(|t| t.t)
    }
    fn word_at(&self, n: usize) -> Option<&'a str> {
        match self.peek_at(n) {
            Some(T::Word(w)) => Some(w),
            _ => None,
        }
    }
    fn word(&self) -> Option<&'a str> {
        self.word_at(0)
    }
    /// The next word or string, consumed.
    fn take(&mut self) -> Option<&'a str> {
        let w = match self.peek_at(0)? {
            T::Word(w) | T::Str(w) => w,
            _ => return None,
        };
        self.i += 1;
        Some(w)
    }
    fn eat(&mut self, w: &str) -> bool {
        let yes = self.word() == Some(w);
        if yes {
            self.i += 1;
        }
        yes
    }
    /// The text from token `from` to the last one consumed.
    fn since(&self, from: usize) -> String {
        let last = self.i.max(from + 1).min(self.toks.len()) - 1;
        self.text[self.toks[from].start..self.toks[last].end].to_string()
    }
    /// Consumes up to the next expression's first word, for what cannot be read.
    fn skip_unknown(&mut self, from: usize) -> String {
        self.i = self.i.max(from + 1);
        let mut depth = 0;
        while let Some(t) = self.peek_at(0) {
            match t {
                T::Open => depth += 1,
                T::Close => depth -= 1,
                T::Word(w) if depth == 0 && HEADS.contains(&w) => break,
                _ => {}
            }
            self.i += 1;
        }
        self.since(from)
    }

    /// One expression, whatever it is.
    fn expr(&mut self) -> Expr {
        let from = self.i;
        match self.statement() {
            Some(Some(s)) => Expr::Stmt(s),
            Some(None) => Expr::Stmt(Stmt::Unknown(self.skip_unknown(from))),
            None => match self.matcher() {
                Some(e) => e,
                None => Expr::Match(Match::Unknown(self.skip_unknown(from))),
            },
        }
    }

    /// A statement: `Some(None)` when its first word says statement and the rest cannot be
    /// read; `None` when the word starts no statement.
    fn statement(&mut self) -> Option<Option<Stmt>> {
        let w = self.word()?;
        let verdict = |v| Some(Some(Stmt::Verdict(v)));
        self.i += 1;
        match w {
            "accept" => verdict(Verdict::Accept),
            "drop" => verdict(Verdict::Drop),
            "return" => verdict(Verdict::Return),
            "continue" => verdict(Verdict::Continue),
            "reject" => {
                // `with tcp reset`, `with icmp type port-unreachable`, `with icmpx admin-prohibited`.
                if self.eat("with") {
                    self.i += 1;
                    while self.word().is_some_and(|w| !HEADS.contains(&w)) {
                        self.i += 1;
                    }
                }
                verdict(Verdict::Reject)
            }
            "jump" | "goto" => {
                let Some(to) = self.take() else { return Some(None) };
                verdict(if w == "jump" { Verdict::Jump(to.into()) } else { Verdict::Goto(to.into()) })
            }
            "counter" => {
                if self.eat("packets") {
                    self.i += 3;
                } else if self.eat("name") {
                    self.i += 1;
                }
                Some(Some(Stmt::Pass))
            }
            "log" => {
                while self.word().is_some_and(|k| ["prefix", "level", "group", "snaplen", "flags"].contains(&k)) {
                    self.i += 2;
                }
                Some(Some(Stmt::Pass))
            }
            "notrack" => Some(Some(Stmt::Pass)),
            "masquerade" => {
                self.eat("to");
                while self
                    .word()
                    .is_some_and(|w| w.starts_with(':') || ["random", "fully-random", "persistent"].contains(&w))
                {
                    self.i += 1;
                    while self.peek_at(0) == Some(T::Comma) {
                        self.i += 2;
                    }
                }
                Some(Some(Stmt::Masquerade))
            }
            "snat" | "dnat" => Some(self.nat(w == "dnat")),
            "redirect" => {
                let port =
                    if self.eat("to") { self.take().and_then(|p| p.strip_prefix(':')).and_then(port) } else { None };
                Some(Some(Stmt::Redirect(port)))
            }
            "update" | "add" => {
                let Some(set) = self.take().and_then(|s| s.strip_prefix('@')) else { return Some(None) };
                self.skip_braces();
                Some(Some(Stmt::Update(set.into())))
            }
            "numgen" => Some(self.numgen()),
            "xt" | "queue" => Some(None),
            _ => {
                self.i -= 1;
                None
            }
        }
    }

    /// `dnat to 10.244.0.2:8080`, `dnat ip to 10.0.0.1`, `snat to 192.0.2.1`.
    fn nat(&mut self, dnat: bool) -> Option<Stmt> {
        if matches!(self.word(), Some("ip" | "ip6")) {
            self.i += 1;
        }
        if !self.eat("to") {
            return None;
        }
        let to = self.take()?;
        let (ip, port) = split_host_port(to)?;
        Some(if dnat { Stmt::Dnat { ip, port } } else { Stmt::Snat(ip) })
    }

    /// `numgen random mod 2 vmap { 0 : goto a, 1 : goto b }` (or `inc`, and `offset N`).
    fn numgen(&mut self) -> Option<Stmt> {
        if !matches!(self.take()?, "random" | "inc") || !self.eat("mod") {
            return None;
        }
        let modulus = int(self.take()?)?;
        let offset = if self.eat("offset") { int(self.take()?)? } else { 0 };
        if !self.eat("vmap") {
            return None;
        }
        let map = self.elements(&[Some(Kind::Int)], true).ok()?;
        Some(Stmt::Numgen { modulus, offset, map })
    }

    fn skip_braces(&mut self) {
        if self.peek_at(0) != Some(T::Open) {
            return;
        }
        let mut depth = 0;
        while let Some(t) = self.peek_at(0) {
            self.i += 1;
            match t {
                T::Open => depth += 1,
                T::Close => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// A field (or a concatenation of fields) and what follows it: a comparison, a `vmap`, or
    /// `set` for `meta mark set …`.
    fn matcher(&mut self) -> Option<Expr> {
        if self.word() == Some("fib") {
            return self.fib().map(Expr::Match);
        }
        if self.word() == Some("limit") {
            self.i += 1;
            self.eat("rate");
            let over = self.eat("over");
            self.take()?;
            if self.eat("burst") {
                self.i += 2;
            }
            return Some(Expr::Match(Match::Const(!over)));
        }
        let mut fields = vec![self.field()?];
        while self.word() == Some(".") {
            self.i += 1;
            fields.push(self.field()?);
        }
        if fields == [Field::Mark] && self.eat("set") {
            return self.mark_set().map(|s| Expr::Stmt(Stmt::MarkSet { op: s.0, value: s.1 }));
        }
        if self.eat("set") {
            // `ct mark set …`, `meta nftrace set 1`: nothing a first packet's path depends on.
            let _ = self.skip_unknown(self.i);
            return Some(Expr::Stmt(Stmt::Pass));
        }
        if self.eat("vmap") {
            let kinds: Vec<Option<Kind>> = fields.iter().map(|f| Some(f.kind())).collect();
            let map = match self.take_set_ref() {
                Some(name) => MapRef::Named(name),
                None => MapRef::Anon(self.elements(&kinds, true).ok()?),
            };
            return Some(Expr::Stmt(Stmt::Vmap { fields, map }));
        }
        if fields == [Field::Mark] && self.eat("&") {
            let mask = int(self.take()?)?;
            let op = self.op();
            let value = int(self.take()?)?;
            return Some(Expr::Match(Match::Masked { mask, op, value }));
        }
        let op = self.op();
        let rhs = self.rhs(&fields)?;
        Some(Expr::Match(Match::Cmp { fields, op, rhs }))
    }

    fn field(&mut self) -> Option<Field> {
        let a = self.word()?;
        if let Some(f) = self.word_at(1).and_then(|b| field_of(a, b)) {
            self.i += 2;
            return Some(f);
        }
        let f = bare_field(a)?;
        self.i += 1;
        Some(f)
    }

    fn op(&mut self) -> Op {
        if self.eat("!=") {
            Op::Ne
        } else {
            self.eat("==");
            Op::Eq
        }
    }

    fn take_set_ref(&mut self) -> Option<String> {
        let name = self.word()?.strip_prefix('@')?;
        self.i += 1;
        Some(name.to_string())
    }

    /// `@set`, `{ a, b }`, or one value per field (`a,b` for flags).
    fn rhs(&mut self, fields: &[Field]) -> Option<Rhs> {
        if let Some(name) = self.take_set_ref() {
            return Some(Rhs::Named(name));
        }
        let kinds: Vec<Option<Kind>> = fields.iter().map(|f| Some(f.kind())).collect();
        if self.peek_at(0) == Some(T::Open) {
            let elements = self.elements(&kinds, false).ok()?;
            return Some(Rhs::Set(elements.into_iter().map(|e| e.key).collect()));
        }
        let mut one = vec![self.key(&kinds)?];
        while self.peek_at(0) == Some(T::Comma) {
            self.i += 1;
            one.push(self.key(&kinds)?);
        }
        Some(Rhs::One(one))
    }

    /// One key: a value per kind, joined by ` . `.
    fn key(&mut self, kinds: &[Option<Kind>]) -> Option<Vec<Val>> {
        let mut out = Vec::new();
        for (n, kind) in kinds.iter().enumerate() {
            if n > 0 && !self.eat(".") {
                return None;
            }
            let s = self.take()?;
            out.push(val((*kind)?, s)?);
        }
        Some(out)
    }

    /// `{ k, k : verdict, … }`: a set's or map's elements, each a key of `kinds`.
    pub fn elements(&mut self, kinds: &[Option<Kind>], verdicts: bool) -> Result<Vec<Element>, String> {
        if self.peek_at(0) != Some(T::Open) {
            return Err("expected `{`".into());
        }
        self.i += 1;
        let mut out = Vec::new();
        while let Some(t) = self.peek_at(0) {
            if t == T::Close {
                self.i += 1;
                return Ok(out);
            }
            if t == T::Comma {
                self.i += 1;
                continue;
            }
            let from = self.i;
            let key = self.key(kinds);
            // `comment "…"`, `timeout 3h expires 2h59m` and the like, after the key.
            let mut comment = None;
            while let Some(w) = self.word().filter(|w| *w != ":") {
                self.i += 1;
                match (w, self.peek_at(0)) {
                    ("comment", Some(T::Str(s))) => {
                        comment = Some(s.to_string());
                        self.i += 1;
                    }
                    ("timeout" | "expires", _) => self.i += 1,
                    _ => {}
                }
            }
            let verdict = if verdicts && self.eat(":") { self.verdict() } else { None };
            while matches!(self.peek_at(0), Some(T::Word(_) | T::Str(_))) {
                self.i += 1;
            }
            if self.i == from {
                self.i += 1;
            }
            let text = self.since(from);
            match key {
                Some(key) => out.push(Element { key, verdict, comment, text }),
                None if kinds.iter().any(Option::is_none) => {}
                None => return Err(format!("`{text}` is not an element of this set's type")),
            }
        }
        Err("a `{` is not closed".into())
    }

    fn verdict(&mut self) -> Option<Verdict> {
        Some(match self.take()? {
            "accept" => Verdict::Accept,
            "drop" => Verdict::Drop,
            "reject" => Verdict::Reject,
            "return" => Verdict::Return,
            "continue" => Verdict::Continue,
            "jump" => Verdict::Jump(self.take()?.into()),
            "goto" => Verdict::Goto(self.take()?.into()),
            _ => return None,
        })
    }

    /// `fib daddr type local`, `fib saddr . iif type != local`.
    fn fib(&mut self) -> Option<Match> {
        self.i += 1;
        let field = match self.take()? {
            "saddr" => Field::FibSaddrType,
            "daddr" => Field::FibDaddrType,
            _ => return None,
        };
        while self.eat(".") {
            self.take()?;
        }
        if !self.eat("type") {
            return None;
        }
        let op = self.op();
        let rhs = self.rhs(&[field])?;
        Some(Match::Cmp { fields: vec![field], op, rhs })
    }

    /// After `meta mark set`: `meta mark | 0x4000` (`mark or 0x4000`), `^`/`xor`, `&`/`and`,
    /// or a value.
    fn mark_set(&mut self) -> Option<(BitOp, u32)> {
        self.eat("meta");
        if !self.eat("mark") {
            return Some((BitOp::Set, int(self.take()?)?));
        }
        let op = match self.take()? {
            "|" | "or" => BitOp::Or,
            "^" | "xor" => BitOp::Xor,
            "&" | "and" => BitOp::And,
            _ => return None,
        };
        Some((op, int(self.take()?)?))
    }
}

/// `10.244.0.2:8080`, `10.0.0.1`, `[fd00::1]:80`, `:8080`.
fn split_host_port(s: &str) -> Option<(Option<IpAddr>, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(port(p)?),
            None => None,
        };
        return Some((Some(ip.parse().ok()?), port));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((Some(ip), None));
    }
    let (ip, p) = s.rsplit_once(':')?;
    let ip = if ip.is_empty() { None } else { Some(ip.parse().ok()?) };
    Some((ip, Some(port(p)?)))
}
