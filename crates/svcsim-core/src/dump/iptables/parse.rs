//! Reading `iptables-save` output: tables, chains with their policies, and each rule's matches
//! and target as iptables-save's normal form writes them. Lenient where the kernel is: a match
//! or target svcsim does not evaluate is kept, by name, for the walk to report; only text that
//! is no iptables-save output at all is an error, with its line.

use std::net::{IpAddr, SocketAddr};

use crate::net::{IpCidr, Protocol, SockAddr};

use crate::dump::DumpError;

/// A built-in chain's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Accept,
    Drop,
}

/// A chain as declared (`:KUBE-SERVICES - [0:0]`, `:FORWARD DROP [0:0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainDecl {
    pub table: String,
    pub name: String,
    /// `None` for a user-defined chain (`-`).
    pub policy: Option<Policy>,
    pub line: usize,
}

/// A port or a port range (`80`, `30000:32767`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports(pub u16, pub u16);

impl Ports {
    pub fn contains(self, p: u16) -> bool {
        (self.0..=self.1).contains(&p)
    }
}

/// One match of a rule, each with its `!`.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    Proto(Protocol, bool),
    Src(IpCidr, bool),
    Dst(IpCidr, bool),
    InIface(String, bool),
    OutIface(String, bool),
    DstPort(Ports, bool),
    SrcPort(Ports, bool),
    /// `-m multiport --dports a,b:c`.
    DstPorts(Vec<Ports>, bool),
    /// `--tcp-flags SYN,ACK SYN` or `--syn`: true for a first SYN.
    FirstSyn(bool),
    /// `-m addrtype --src-type`/`--dst-type` TYPE (`LOCAL`, …).
    AddrType {
        dst: bool,
        kind: String,
        negated: bool,
    },
    /// `-m mark --mark value[/mask]`.
    Mark {
        value: u32,
        mask: u32,
        negated: bool,
    },
    /// `-m conntrack --ctstate`/`-m state --state`: the states listed.
    CtState(Vec<String>, bool),
    /// `-m statistic --mode random --probability p`.
    Random(f64),
    /// `-m recent --rcheck`/`--update` (false for a first packet) or `--set` (true).
    Recent {
        set: bool,
    },
    /// `-m set --match-set NAME src,dst,…`.
    Set {
        name: String,
        flags: Vec<bool>,
        negated: bool,
    },
    /// `-m comment --comment TEXT` and `-m nfacct`: always true.
    Always,
    /// A match svcsim does not evaluate, as written (`-m physdev --physdev-is-bridged`).
    Unknown(String),
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `-j CHAIN`, or `-g CHAIN` (goto: a RETURN from it returns past this rule's chain).
    Jump {
        chain: String,
        goto: bool,
    },
    Accept,
    Drop,
    Reject,
    Return,
    Dnat(SockAddr),
    /// `-j DNAT --to-destination` with only an address: the port stays.
    DnatAddr(IpAddr),
    Snat(IpAddr),
    Masquerade,
    /// `-j MARK --set-xmark value/mask`: mark = (mark & !mask) ^ value.
    Xmark {
        value: u32,
        mask: u32,
    },
    /// A target that only records (`LOG`, `NFLOG`, `TRACE`, no `-j`): the next rule follows.
    Continue,
    /// A target svcsim does not evaluate, as written.
    Unknown(String),
}

/// One rule, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedRule {
    pub line: usize,
    pub table: String,
    pub chain: String,
    pub matches: Vec<Match>,
    pub target: Target,
    pub comment: Option<String>,
    /// The rule's arguments after `-A <chain>`, as written.
    pub text: String,
}

/// An `iptables-save` dump.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Saved {
    pub chains: Vec<ChainDecl>,
    pub rules: Vec<SavedRule>,
}

/// Reads `text`. Every line that is neither a table header, a chain, a rule, `COMMIT` nor a
/// comment is an error; a rule that cannot be read is an error at its line and the rest is read.
pub fn parse(text: &str) -> Result<Saved, Vec<DumpError>> {
    let mut out = Saved::default();
    let mut errors = Vec::new();
    let mut table: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        let mut err = |message: String| errors.push(DumpError { line, message });
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(t) = l.strip_prefix('*') {
            table = Some(t.to_string());
        } else if l == "COMMIT" {
            table = None;
        } else if let Some(decl) = l.strip_prefix(':') {
            let Some(t) = &table else {
                err("a chain outside a table (no *nat or *filter above)".into());
                continue;
            };
            let mut words = decl.split_whitespace();
            let (Some(name), Some(policy)) = (words.next(), words.next()) else {
                err(format!("{l:?} is not a chain line (:NAME POLICY [packets:bytes])"));
                continue;
            };
            let policy = match policy {
                "-" => None,
                "ACCEPT" => Some(Policy::Accept),
                "DROP" => Some(Policy::Drop),
                other => {
                    err(format!("chain {name}: {other:?} is not a policy (ACCEPT, DROP or -)"));
                    continue;
                }
            };
            out.chains.push(ChainDecl { table: t.clone(), name: name.to_string(), policy, line });
        } else if let Some(rest) = l.strip_prefix("-A ") {
            let Some(t) = &table else {
                err("a rule outside a table (no *nat or *filter above)".into());
                continue;
            };
            match rule(t, rest, line) {
                Ok(r) => out.rules.push(r),
                Err(message) => err(message),
            }
        } else {
            err(format!("{:?} is not iptables-save output (tables, :chains, -A rules, COMMIT)", clip(l)));
        }
    }
    if out.chains.is_empty() && out.rules.is_empty() && errors.is_empty() {
        errors.push(DumpError { line: 1, message: "no tables: this is not iptables-save output".into() });
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 60 { format!("{}…", s.chars().take(60).collect::<String>()) } else { s.to_string() }
}

/// Splits a rule into words, keeping `"quoted text"` (with `\"` inside) as one.
pub(super) fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut w = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => w.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => w.push(c),
                    None => return Err("a quote is not closed".into()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
    Ok(out)
}

fn rule(table: &str, rest: &str, line: usize) -> Result<SavedRule, String> {
    let w = words(rest)?;
    let Some((chain, args)) = w.split_first() else { return Err("-A without a chain".into()) };
    let text = rest.trim_start().strip_prefix(chain.as_str()).unwrap_or(rest).trim().to_string();
    let mut r = Reader { w: args, at: 0, module: None };
    let mut matches = Vec::new();
    let mut comment = None;
    let mut target = Target::Continue;
    while r.at < r.w.len() {
        let negated = r.eat("!");
        let Some(opt) = r.next() else { return Err("a rule ends with !".into()) };
        match opt {
            "-s" | "--source" => matches.push(Match::Src(cidr(r.value(opt)?)?, negated)),
            "-d" | "--destination" => matches.push(Match::Dst(cidr(r.value(opt)?)?, negated)),
            "-p" | "--protocol" => match protocol(r.value(opt)?) {
                Some(p) => matches.push(Match::Proto(p, negated)),
                None => matches.push(Match::Unknown(format!("-p {}", r.w[r.at - 1]))),
            },
            "-i" | "--in-interface" => matches.push(Match::InIface(r.value(opt)?.to_string(), negated)),
            "-o" | "--out-interface" => matches.push(Match::OutIface(r.value(opt)?.to_string(), negated)),
            "-m" | "--match" => r.module = Some(r.value(opt)?.to_string()),
            "-j" | "--jump" | "-g" | "--goto" => {
                let name = r.value(opt)?.to_string();
                target = r.target(&name, opt.starts_with("-g") || opt == "--goto")?;
            }
            _ if opt.starts_with("--") => {
                if let Some(m) = r.module_option(opt, negated, &mut comment)? {
                    matches.push(m);
                }
            }
            other => return Err(format!("{other:?} is not an option iptables-save writes")),
        }
    }
    Ok(SavedRule { line, table: table.to_string(), chain: chain.clone(), matches, target, comment, text })
}

struct Reader<'a> {
    w: &'a [String],
    at: usize,
    /// The `-m` module whose options follow.
    module: Option<String>,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let w = self.w.get(self.at)?;
        self.at += 1;
        Some(w)
    }
    fn eat(&mut self, word: &str) -> bool {
        let yes = self.w.get(self.at).is_some_and(|w| w == word);
        self.at += usize::from(yes);
        yes
    }
    fn value(&mut self, opt: &str) -> Result<&'a str, String> {
        self.next().ok_or_else(|| format!("{opt} needs a value"))
    }
    /// Every word up to the next option that is not a value (for options svcsim keeps as text).
    fn rest_of_option(&mut self) -> Vec<&'a str> {
        let mut out = Vec::new();
        while let Some(w) = self.w.get(self.at) {
            if w.starts_with('-') || w == "!" {
                break;
            }
            out.push(w.as_str());
            self.at += 1;
        }
        out
    }

    fn module_option(
        &mut self,
        opt: &str,
        negated: bool,
        comment: &mut Option<String>,
    ) -> Result<Option<Match>, String> {
        let module = self.module.clone().unwrap_or_default();
        let not = if negated { "! " } else { "" };
        let m = match (module.as_str(), opt) {
            ("comment", "--comment") => {
                *comment = Some(self.value(opt)?.to_string());
                return Ok(None);
            }
            ("tcp" | "udp" | "sctp", "--dport" | "--destination-port") => {
                Match::DstPort(ports(self.value(opt)?)?, negated)
            }
            ("tcp" | "udp" | "sctp", "--sport" | "--source-port") => Match::SrcPort(ports(self.value(opt)?)?, negated),
            ("tcp", "--syn") => Match::FirstSyn(negated),
            ("tcp", "--tcp-flags") => {
                let (mask, set) = (self.value(opt)?, self.value(opt)?);
                if matches!(mask, "SYN,ACK" | "FIN,SYN,RST,ACK") && set == "SYN" {
                    Match::FirstSyn(negated)
                } else {
                    Match::Unknown(format!("-m tcp {not}--tcp-flags {mask} {set}"))
                }
            }
            ("multiport", "--dports" | "--destination-ports") => {
                let list = self.value(opt)?.split(',').map(ports).collect::<Result<Vec<_>, _>>()?;
                Match::DstPorts(list, negated)
            }
            ("addrtype", "--src-type" | "--dst-type") => {
                Match::AddrType { dst: opt == "--dst-type", kind: self.value(opt)?.to_string(), negated }
            }
            ("mark", "--mark") => {
                let (value, mask) = mark(self.value(opt)?)?;
                Match::Mark { value, mask, negated }
            }
            ("conntrack", "--ctstate") | ("state", "--state") => {
                Match::CtState(self.value(opt)?.split(',').map(str::to_string).collect(), negated)
            }
            ("statistic", "--mode") => {
                let mode = self.value(opt)?;
                if mode == "random" && self.eat("--probability") {
                    let p = self.value("--probability")?;
                    Match::Random(p.parse().map_err(|_| format!("--probability {p:?} is not a number"))?)
                } else {
                    Match::Unknown(format!("-m statistic --mode {mode}"))
                }
            }
            ("recent", "--set") => Match::Recent { set: true },
            ("recent", "--rcheck" | "--update") => Match::Recent { set: false },
            ("recent", "--name" | "--seconds" | "--hitcount" | "--mask") => {
                self.value(opt)?;
                return Ok(None);
            }
            ("recent", "--reap" | "--rsource" | "--rdest" | "--rttl") => return Ok(None),
            ("set", "--match-set") => {
                let name = self.value(opt)?.to_string();
                let flags = self.value(opt)?.split(',').map(|f| f == "dst").collect();
                Match::Set { name, flags, negated }
            }
            ("nfacct", "--nfacct-name") => {
                self.value(opt)?;
                Match::Always
            }
            _ => {
                let values = self.rest_of_option().join(" ");
                let text = format!("-m {module} {not}{opt} {values}");
                Match::Unknown(text.trim_end().to_string())
            }
        };
        Ok(Some(m))
    }

    fn target(&mut self, name: &str, goto: bool) -> Result<Target, String> {
        let t = match name {
            "ACCEPT" => Target::Accept,
            "DROP" => Target::Drop,
            "RETURN" => Target::Return,
            "REJECT" => {
                if self.eat("--reject-with") {
                    self.value("--reject-with")?;
                }
                Target::Reject
            }
            "DNAT" => {
                let to = self.option("--to-destination")?;
                // `10.0.0.1:80`, `[fd00::1]:80` (ip6tables), or an address alone.
                if let Ok(a) = to.parse::<SocketAddr>() {
                    Target::Dnat(SockAddr::new(a.ip(), a.port()))
                } else if let Ok(ip) = to.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                    Target::DnatAddr(ip)
                } else {
                    Target::Unknown(format!("-j DNAT --to-destination {to}"))
                }
            }
            "SNAT" => {
                let to = self.option("--to-source")?;
                let ip =
                    to.parse::<IpAddr>().ok().or_else(|| to.parse::<SocketAddr>().map(|a| a.ip()).ok()).or_else(|| {
                        let host = if to.starts_with('[') {
                            to.split(']').next().map(|h| &h[1..])
                        } else {
                            to.split(':').next()
                        };
                        host.and_then(|h| h.parse::<IpAddr>().ok())
                    });
                match ip {
                    Some(ip) => Target::Snat(ip),
                    None => Target::Unknown(format!("-j SNAT --to-source {to}")),
                }
            }
            "MASQUERADE" => {
                while self.eat("--random-fully") || self.eat("--random") {}
                if self.eat("--to-ports") {
                    self.value("--to-ports")?;
                }
                Target::Masquerade
            }
            "MARK" => {
                let (opt, v) = (self.value("-j MARK")?, self.value("-j MARK")?);
                let (value, mask) = mark(v)?;
                match opt {
                    "--set-xmark" => Target::Xmark { value, mask },
                    "--set-mark" => Target::Xmark { value, mask: mask | value },
                    "--or-mark" => Target::Xmark { value, mask: value },
                    "--xor-mark" => Target::Xmark { value, mask: 0 },
                    "--and-mark" => Target::Xmark { value: 0, mask: !value },
                    other => Target::Unknown(format!("-j MARK {other} {v}")),
                }
            }
            "LOG" | "NFLOG" | "TRACE" => {
                while self.at < self.w.len() {
                    self.at += 1;
                }
                Target::Continue
            }
            chain if is_chain_name(chain) => Target::Jump { chain: chain.to_string(), goto },
            other => {
                let args = self.w[self.at..].join(" ");
                self.at = self.w.len();
                Target::Unknown(format!("-j {other} {args}").trim_end().to_string())
            }
        };
        Ok(t)
    }

    fn option(&mut self, name: &str) -> Result<&'a str, String> {
        if self.eat(name) { self.value(name) } else { Err(format!("expected {name}")) }
    }
}

/// A user chain's name: kube-proxy's, Docker's, a CNI's. Targets in capitals that are not
/// declared chains are extensions (`CONNMARK`, `CT`); the walk tells the two apart by the chains
/// the dump declares.
fn is_chain_name(name: &str) -> bool {
    !matches!(name, "CONNMARK" | "CT" | "NOTRACK" | "TPROXY" | "TCPMSS" | "REDIRECT" | "NETMAP" | "CLASSIFY" | "SET")
}

fn cidr(s: &str) -> Result<IpCidr, String> {
    if let Ok(c) = s.parse::<IpCidr>() {
        return Ok(c);
    }
    s.parse::<IpAddr>().map(IpCidr::host).map_err(|_| format!("{s:?} is not an IP address or CIDR"))
}

fn protocol(s: &str) -> Option<Protocol> {
    match s {
        "tcp" | "6" => Some(Protocol::Tcp),
        "udp" | "17" => Some(Protocol::Udp),
        "sctp" | "132" => Some(Protocol::Sctp),
        _ => None,
    }
}

fn ports(s: &str) -> Result<Ports, String> {
    let port = |p: &str| p.parse::<u16>().map_err(|_| format!("{s:?} is not a port or port range"));
    match s.split_once(':') {
        Some((a, b)) => {
            Ok(Ports(if a.is_empty() { 0 } else { port(a)? }, if b.is_empty() { u16::MAX } else { port(b)? }))
        }
        None => port(s).map(|p| Ports(p, p)),
    }
}

fn mark(s: &str) -> Result<(u32, u32), String> {
    let num = |t: &str| {
        let t = t.trim();
        let parsed = match t.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => t.parse(),
        };
        parsed.map_err(|_| format!("{s:?} is not a mark (value[/mask])"))
    };
    match s.split_once('/') {
        Some((v, m)) => Ok((num(v)?, num(m)?)),
        None => Ok((num(s)?, u32::MAX)),
    }
}
