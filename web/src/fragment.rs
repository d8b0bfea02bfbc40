//! The URL fragment as page state: `#preset=aks-blog&ch=55s:etp:Local&t=62.85s&sel=166`. [`encode`]
//! writes what the Share button copies, [`parse`] reads it back; anything unknown or malformed is
//! reported, never fatal: the page falls back to the default for it. Nothing in a fragment is
//! ever fetched.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use svcsim_core::cluster::{CiliumLbAlgorithm, CiliumLbMode, NetworkPlugin, Provider, ProxyMode, TrafficPolicy};
use svcsim_core::manifest::{DataplaneOverride, parse_duration};
use svcsim_core::net::IpFamily;

/// What a fragment asks for. Times are whole microseconds, the simulation's unit, so a link
/// reproduces a frame exactly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fragment {
    pub preset: Option<String>,
    /// The user's own scenario, carried in the link (`yaml=`, deflated and base64url-encoded);
    /// it takes the place of `preset`.
    pub yaml: Option<String>,
    /// externalTrafficPolicy from the start, as if the YAML said so.
    pub etp: Option<TrafficPolicy>,
    pub nodes: Option<u32>,
    pub provider: Option<Provider>,
    pub plugin: Option<NetworkPlugin>,
    /// The dataplane: kube-proxy's mode (`mode=iptables|nftables`), or Cilium (`mode=cilium`,
    /// with `lbmode=snat|dsr|hybrid` and `lbalg=random|maglev`).
    pub dataplane: Option<DataplaneOverride>,
    pub client_inside: bool,
    /// Dual-stack (`stack=dual`), and the family the clients use (`family=ipv4|ipv6`).
    pub dual_stack: bool,
    pub family: Option<IpFamily>,
    pub seed: Option<u64>,
    /// The user's `kubectl patch`-like changes, in the order given.
    pub changes: Vec<LinkChange>,
    /// Open paused at this simulated time (µs).
    pub t: Option<u64>,
    pub speed: Option<f64>,
    /// The request shown in the inspector.
    pub sel: Option<u64>,
    /// The YAML editor is open.
    pub editor: bool,
    /// The compact layout for an iframe (`embed=1`, or `?embed=1` in the query).
    pub embed: bool,
    /// A guided lesson and its step (1-based): `lesson=aks&step=3`. The step sets the rest.
    pub lesson: Option<(String, u32)>,
    /// Two runs side by side: Cluster and Local (`compare=1`), or Cilium's SNAT and DSR under
    /// Cluster (`compare=dsr`).
    pub compare: Option<CompareKind>,
    /// What could not be used, for a message on the page.
    pub problems: Vec<String>,
}

/// What the compare view sets side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareKind {
    /// externalTrafficPolicy: Cluster and Local.
    Policy,
    /// Cilium's loadBalancer.mode snat and dsr, both under Cluster.
    Dsr,
}

/// One user change at a time (µs): `55s:etp:Local`, `80.5s:replicas:2`, `90s:affinity:on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkChange {
    pub at: u64,
    pub what: LinkChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChangeKind {
    Policy(TrafficPolicy),
    Affinity(bool),
    Replicas(u32),
}

/// The longest fragment read; a longer one is ignored with a message. Browsers and servers
/// carry far longer URLs; this bounds what a crafted link can make the page decode.
pub const MAX_FRAGMENT: usize = 16 * 1024;
/// The most YAML a link may inflate to (a decompression bomb stops here).
pub const MAX_LINK_YAML: usize = 256 * 1024;
/// The latest cursor a link may ask for: a day of scenario time.
pub const MAX_T: u64 = 24 * 3600 * 1_000_000;
/// The most user changes a link may carry.
pub const MAX_CHANGES: usize = 64;
/// Bounds of the node and replica controls.
pub const MAX_NODES: u32 = 8;
pub const MAX_REPLICAS: u32 = 50;

/// Speeds offered by the speed control.
pub const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Parses `#k=v&k=v` (the leading `#` is optional). A problem drops that parameter only.
pub fn parse(fragment: &str, presets: &[&str]) -> Fragment {
    let mut f = Fragment::default();
    let text = fragment.strip_prefix('#').unwrap_or(fragment);
    if text.len() > MAX_FRAGMENT {
        f.problems.push(format!(
            "the link's fragment is {} characters long (limit {MAX_FRAGMENT}); it was ignored",
            text.len()
        ));
        return f;
    }
    // The dataplane's keys may come in any order: read, then put together.
    let (mut mode, mut lb_mode, mut lb_algorithm) = (None, None, None);
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |what: &str| format!("{key} must be {what}, not {:?}", truncate(value));
        match key {
            "preset" if presets.contains(&value) => f.preset = Some(value.to_string()),
            "preset" => f.problems.push(format!("no preset is called {:?}", truncate(value))),
            "yaml" => match decode_yaml(value) {
                Ok(y) => f.yaml = Some(y),
                Err(e) => f.problems.push(format!("yaml: {e}; the preset is shown instead")),
            },
            "etp" => match policy(value) {
                Some(p) => f.etp = Some(p),
                None => f.problems.push(bad("Cluster or Local")),
            },
            "nodes" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_NODES).contains(&n) => f.nodes = Some(n),
                _ => f.problems.push(bad(&format!("a node count from 1 to {MAX_NODES}"))),
            },
            "provider" => match value {
                "azure" => f.provider = Some(Provider::Azure),
                "aws" => f.provider = Some(Provider::Aws),
                "gcp" => f.provider = Some(Provider::Gcp),
                "none" => f.provider = Some(Provider::None),
                _ => f.problems.push(bad("azure, aws, gcp or none")),
            },
            "plugin" => match value {
                "kubenet" => f.plugin = Some(NetworkPlugin::Kubenet),
                "azure-cni" => f.plugin = Some(NetworkPlugin::AzureCni),
                _ => f.problems.push(bad("kubenet or azure-cni")),
            },
            "mode" => match value {
                "iptables" | "nftables" | "cilium" => mode = Some(value),
                _ => f.problems.push(bad("iptables, nftables or cilium")),
            },
            "lbmode" => match value {
                "snat" => lb_mode = Some(CiliumLbMode::Snat),
                "dsr" => lb_mode = Some(CiliumLbMode::Dsr),
                "hybrid" => lb_mode = Some(CiliumLbMode::Hybrid),
                _ => f.problems.push(bad("snat, dsr or hybrid")),
            },
            "lbalg" => match value {
                "random" => lb_algorithm = Some(CiliumLbAlgorithm::Random),
                "maglev" => lb_algorithm = Some(CiliumLbAlgorithm::Maglev),
                _ => f.problems.push(bad("random or maglev")),
            },
            "stack" => match value {
                "dual" => f.dual_stack = true,
                "single" => f.dual_stack = false,
                _ => f.problems.push(bad("dual or single")),
            },
            "family" => match value {
                "ipv4" => f.family = Some(IpFamily::Ipv4),
                "ipv6" => f.family = Some(IpFamily::Ipv6),
                _ => f.problems.push(bad("ipv4 or ipv6")),
            },
            "client" => match value {
                "inside" => f.client_inside = true,
                "outside" => f.client_inside = false,
                _ => f.problems.push(bad("inside or outside")),
            },
            "seed" => match value.parse::<u64>() {
                Ok(n) => f.seed = Some(n),
                Err(_) => f.problems.push(bad("a whole number")),
            },
            "ch" => match parse_changes(value) {
                Ok(c) => f.changes = c,
                Err(e) => f.problems.push(format!("ch: {e}; the changes were ignored")),
            },
            "t" => match parse_time(value) {
                Some(t) if t <= MAX_T => f.t = Some(t),
                _ => f.problems.push(bad("a time like 120s, 2m or 62.85s (at most 24h)")),
            },
            "speed" => match value.parse::<f64>() {
                Ok(s) if SPEEDS.contains(&s) => f.speed = Some(s),
                _ => f.problems.push(bad("one of 0.25, 0.5, 1, 2, 4, 8, 16")),
            },
            "sel" => match value.parse::<u64>() {
                Ok(n) => f.sel = Some(n),
                Err(_) => f.problems.push(bad("a request number")),
            },
            "editor" => match value {
                "open" => f.editor = true,
                "closed" => f.editor = false,
                _ => f.problems.push(bad("open or closed")),
            },
            "lesson" if value.len() <= 40 => {
                let step = f.lesson.as_ref().map_or(1, |l| l.1);
                f.lesson = Some((value.to_string(), step));
            }
            "lesson" => f.problems.push(bad("a lesson name")),
            "step" => match value.parse::<u32>() {
                Ok(n) if n >= 1 => match &mut f.lesson {
                    Some(l) => l.1 = n,
                    None => f.lesson = Some((String::new(), n)),
                },
                _ => f.problems.push(bad("a step number from 1")),
            },
            "compare" => match value {
                "1" => f.compare = Some(CompareKind::Policy),
                "dsr" => f.compare = Some(CompareKind::Dsr),
                "0" => f.compare = None,
                _ => f.problems.push(bad("1, dsr or 0")),
            },
            "embed" => match value {
                "1" => f.embed = true,
                "0" => f.embed = false,
                _ => f.problems.push(bad("1 or 0")),
            },
            _ => f.problems.push(format!("unknown link parameter {:?}", truncate(key))),
        }
    }
    f.dataplane = match mode {
        Some("cilium") => Some(DataplaneOverride::Cilium { mode: lb_mode, algorithm: lb_algorithm }),
        Some(m) => {
            Some(DataplaneOverride::KubeProxy(if m == "nftables" { ProxyMode::Nftables } else { ProxyMode::Iptables }))
        }
        None => None,
    };
    if !matches!(f.dataplane, Some(DataplaneOverride::Cilium { .. })) && (lb_mode.is_some() || lb_algorithm.is_some()) {
        f.problems.push("lbmode and lbalg are Cilium's: they need mode=cilium, and were ignored".into());
    }
    // The link's own YAML takes the place of a preset: keep one scenario, as `encode` does.
    if f.yaml.is_some() {
        f.preset = None;
    }
    f
}

/// The fragment for `f`, without `#`: canonical (fixed key order, defaults left out), so
/// `parse(encode(f)) == f` for anything `parse` accepts.
pub fn encode(f: &Fragment) -> String {
    let mut out: Vec<String> = Vec::new();
    if let Some(y) = &f.yaml {
        out.push(format!("yaml={}", encode_yaml(y)));
    } else if let Some(p) = &f.preset {
        out.push(format!("preset={p}"));
    }
    if let Some(p) = f.etp {
        out.push(format!("etp={p}"));
    }
    if let Some(n) = f.nodes {
        out.push(format!("nodes={n}"));
    }
    if let Some(p) = f.provider {
        out.push(format!("provider={p}"));
    }
    if let Some(p) = f.plugin {
        out.push(format!("plugin={p}"));
    }
    match f.dataplane {
        Some(DataplaneOverride::KubeProxy(m)) => out.push(format!("mode={m}")),
        Some(DataplaneOverride::Cilium { mode, algorithm }) => {
            out.push("mode=cilium".into());
            if let Some(m) = mode {
                out.push(format!("lbmode={m}"));
            }
            if let Some(a) = algorithm {
                out.push(format!("lbalg={a}"));
            }
        }
        None => {}
    }
    if f.dual_stack {
        out.push("stack=dual".into());
    }
    if let Some(family) = f.family {
        out.push(format!("family={}", family.to_string().to_ascii_lowercase()));
    }
    if f.client_inside {
        out.push("client=inside".into());
    }
    if let Some(s) = f.seed {
        out.push(format!("seed={s}"));
    }
    if !f.changes.is_empty() {
        let ch: Vec<String> = f
            .changes
            .iter()
            .map(|c| {
                let what = match c.what {
                    LinkChangeKind::Policy(p) => format!("etp:{p}"),
                    LinkChangeKind::Affinity(on) => format!("affinity:{}", if on { "on" } else { "off" }),
                    LinkChangeKind::Replicas(r) => format!("replicas:{r}"),
                };
                format!("{}:{what}", format_time(c.at))
            })
            .collect();
        out.push(format!("ch={}", ch.join(",")));
    }
    if let Some(t) = f.t {
        out.push(format!("t={}", format_time(t)));
    }
    if let Some(s) = f.speed {
        out.push(format!("speed={s}"));
    }
    if let Some(s) = f.sel {
        out.push(format!("sel={s}"));
    }
    if f.editor {
        out.push("editor=open".into());
    }
    match f.compare {
        Some(CompareKind::Policy) => out.push("compare=1".into()),
        Some(CompareKind::Dsr) => out.push("compare=dsr".into()),
        None => {}
    }
    if f.embed {
        out.push("embed=1".into());
    }
    if let Some((lesson, step)) = &f.lesson {
        out.push(format!("lesson={lesson}&step={step}"));
    }
    out.join("&")
}

/// The fuzzer's entry point (`fuzz/fuzz_targets/fragment.rs`, replayed by
/// `web/tests/fuzz_regressions.rs`): any text as a link fragment.
///
/// Contracts: [`parse`] never panics; whatever it accepts, [`encode`] writes back as a link that
/// parses, without a problem, to the same state.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    const PRESETS: [&str; 2] = ["aks-blog", "gke"];
    let Ok(text) = std::str::from_utf8(data) else { return };
    let f = parse(text, &PRESETS);
    let link = encode(&f);
    let again = parse(&link, &PRESETS);
    assert_eq!(again, Fragment { problems: Vec::new(), ..f }, "{link:?} did not read back as what was accepted");
}

/// YAML as it travels in a link: raw DEFLATE at the best level, then base64url without padding
/// (both safe in a fragment without further escaping).
pub fn encode_yaml(yaml: &str) -> String {
    URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(yaml.as_bytes(), 10))
}

fn decode_yaml(value: &str) -> Result<String, String> {
    let bytes = URL_SAFE_NO_PAD.decode(value).map_err(|e| format!("not base64url ({e}); was the link cut short?"))?;
    let inflated = miniz_oxide::inflate::decompress_to_vec_with_limit(&bytes, MAX_LINK_YAML).map_err(|e| {
        if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
            format!("it inflates to more than {} KiB", MAX_LINK_YAML / 1024)
        } else {
            "not compressed YAML; was the link cut short or edited?".to_string()
        }
    })?;
    String::from_utf8(inflated).map_err(|_| "not UTF-8 text".to_string())
}

fn policy(value: &str) -> Option<TrafficPolicy> {
    match value {
        "Cluster" => Some(TrafficPolicy::Cluster),
        "Local" => Some(TrafficPolicy::Local),
        _ => None,
    }
}

fn parse_changes(value: &str) -> Result<Vec<LinkChange>, String> {
    let items: Vec<&str> = value.split(',').filter(|i| !i.is_empty()).collect();
    if items.len() > MAX_CHANGES {
        return Err(format!("{} changes (limit {MAX_CHANGES})", items.len()));
    }
    items
        .into_iter()
        .map(|item| {
            let mut parts = item.splitn(3, ':');
            let (Some(at), Some(field), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{:?} is not TIME:FIELD:VALUE", truncate(item)));
            };
            let at = parse_time(at)
                .filter(|t| *t <= MAX_T)
                .ok_or_else(|| format!("{:?} is not a time within 24h", truncate(at)))?;
            let what = match (field, v) {
                ("etp", v) => LinkChangeKind::Policy(policy(v).ok_or_else(|| format!("etp {:?}", truncate(v)))?),
                ("affinity", "on") => LinkChangeKind::Affinity(true),
                ("affinity", "off") => LinkChangeKind::Affinity(false),
                ("replicas", v) => LinkChangeKind::Replicas(
                    v.parse()
                        .ok()
                        .filter(|r| *r <= MAX_REPLICAS)
                        .ok_or_else(|| format!("replicas {:?}", truncate(v)))?,
                ),
                _ => return Err(format!("{:?} is not etp, affinity or replicas", truncate(item))),
            };
            Ok(LinkChange { at, what })
        })
        .collect()
}

/// `120s`, `2m`, `1m30s` (as in YAML), or decimal seconds `62.85s` / `62.85` to the microsecond.
pub fn parse_time(value: &str) -> Option<u64> {
    if let Some(d) = parse_duration(value) {
        return Some(d.as_micros());
    }
    let number = value.strip_suffix('s').unwrap_or(value);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().ok()? };
    whole.checked_mul(1_000_000)?.checked_add(frac)
}

/// Microseconds as the shortest exact decimal seconds: `120s`, `62.85s`, `0.000001s`.
pub fn format_time(micros: u64) -> String {
    let (s, us) = (micros / 1_000_000, micros % 1_000_000);
    if us == 0 {
        format!("{s}s")
    } else {
        let frac = format!("{us:06}");
        format!("{s}.{}s", frac.trim_end_matches('0'))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRESETS: &[&str] = &["aks-blog", "gke"];

    #[test]
    fn a_deep_link_sets_preset_policy_time_and_speed() {
        let f = parse("#preset=aks-blog&etp=Local&t=120s&speed=2", PRESETS);
        assert_eq!(f.preset.as_deref(), Some("aks-blog"));
        assert_eq!(f.etp, Some(TrafficPolicy::Local));
        assert_eq!(f.t, Some(120_000_000));
        assert_eq!(f.speed, Some(2.0));
        assert!(f.problems.is_empty());
    }

    #[test]
    fn the_dataplane_round_trips_and_cilium_s_keys_need_mode_cilium() {
        let f = parse("preset=aks-blog&lbalg=maglev&mode=cilium&lbmode=dsr&compare=dsr", PRESETS);
        let cilium =
            DataplaneOverride::Cilium { mode: Some(CiliumLbMode::Dsr), algorithm: Some(CiliumLbAlgorithm::Maglev) };
        assert_eq!((f.dataplane, f.compare), (Some(cilium), Some(CompareKind::Dsr)));
        assert_eq!(encode(&f), "preset=aks-blog&mode=cilium&lbmode=dsr&lbalg=maglev&compare=dsr");
        let f = parse("preset=aks-blog&mode=nftables&lbmode=dsr", PRESETS);
        assert_eq!(f.dataplane, Some(DataplaneOverride::KubeProxy(ProxyMode::Nftables)));
        assert_eq!(f.problems, ["lbmode and lbalg are Cilium's: they need mode=cilium, and were ignored"]);
    }

    #[test]
    fn tampered_values_are_reported_and_ignored() {
        let f = parse("preset=nope&etp=local&t=forever&speed=3&x=<script>", PRESETS);
        assert_eq!(f.preset, None);
        assert_eq!(f.etp, None);
        assert_eq!(f.t, None);
        assert_eq!(f.speed, None);
        assert_eq!(
            f.problems,
            [
                "no preset is called \"nope\"",
                "etp must be Cluster or Local, not \"local\"",
                "t must be a time like 120s, 2m or 62.85s (at most 24h), not \"forever\"",
                "speed must be one of 0.25, 0.5, 1, 2, 4, 8, 16, not \"3\"",
                "unknown link parameter \"x\"",
            ]
        );
        let f = parse(
            "nodes=0&provider=azure&plugin=flannel&mode=ipvs&client=both&ch=5s:etp:Local,x&t=25h&sel=-1&editor=1",
            PRESETS,
        );
        assert_eq!(f.provider, Some(Provider::Azure), "good parameters survive bad neighbours");
        assert_eq!(f.changes, []);
        assert_eq!(f.t, None);
        assert_eq!(
            f.problems,
            [
                "nodes must be a node count from 1 to 8, not \"0\"",
                "plugin must be kubenet or azure-cni, not \"flannel\"",
                "mode must be iptables, nftables or cilium, not \"ipvs\"",
                "client must be inside or outside, not \"both\"",
                "ch: \"x\" is not TIME:FIELD:VALUE; the changes were ignored",
                "t must be a time like 120s, 2m or 62.85s (at most 24h), not \"25h\"",
                "sel must be a request number, not \"-1\"",
                "editor must be open or closed, not \"1\"",
            ]
        );
        let f = parse(
            &format!(
                "provider=moon&seed=x&compare=yes&embed=true&step=0&stack=triple&family=ipv5&lesson={}",
                "l".repeat(41)
            ),
            PRESETS,
        );
        assert_eq!((f.compare, f.embed, f.lesson, f.dual_stack, f.family), (None, false, None, false, None));
        assert_eq!(
            f.problems,
            [
                "provider must be azure, aws, gcp or none, not \"moon\"",
                "seed must be a whole number, not \"x\"",
                "compare must be 1, dsr or 0, not \"yes\"",
                "embed must be 1 or 0, not \"true\"",
                "step must be a step number from 1, not \"0\"",
                "stack must be dual or single, not \"triple\"",
                "family must be ipv4 or ipv6, not \"ipv5\"",
                format!("lesson must be a lesson name, not {:?}", "l".repeat(40)).as_str(),
            ]
        );
        for (ch, problem) in [
            ("5s:etp:local", "ch: etp \"local\"; the changes were ignored"),
            ("5s:replicas:51", "ch: replicas \"51\"; the changes were ignored"),
            ("25h:etp:Local", "ch: \"25h\" is not a time within 24h; the changes were ignored"),
            (
                "5s:affinity:maybe",
                "ch: \"5s:affinity:maybe\" is not etp, affinity or replicas; the changes were ignored",
            ),
        ] {
            assert_eq!(parse(&format!("ch=1s:etp:Local,{ch}"), PRESETS).problems, [problem], "{ch}");
        }
        let many = (0..65).map(|i| format!("{i}s:replicas:1")).collect::<Vec<_>>().join(",");
        assert_eq!(
            parse(&format!("ch={many}"), PRESETS).problems,
            ["ch: 65 changes (limit 64); the changes were ignored"]
        );
        let long = format!("#preset=gke&t=1s&x={}", "a".repeat(MAX_FRAGMENT));
        let f = parse(&long, PRESETS);
        assert_eq!((f.preset, f.t), (None, None), "an oversized fragment is ignored as a whole");
        assert_eq!(
            f.problems,
            [format!("the link's fragment is {} characters long (limit 16384); it was ignored", long.len() - 1)]
        );
        assert_eq!(parse("", PRESETS), Fragment::default());
    }

    #[test]
    fn times_are_exact_to_the_microsecond() {
        for (text, micros) in [
            ("120s", 120_000_000),
            ("2m", 120_000_000),
            ("62.85s", 62_850_000),
            ("62.85", 62_850_000),
            ("0.000001s", 1),
        ] {
            assert_eq!(parse_time(text), Some(micros), "{text}");
        }
        for bad in ["", "s", ".5s", "1.0000001s", "1e3", "-1s", "1.5.2s", "１s"] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
        for micros in [0, 1, 62_850_000, 120_000_000, 86_399_999_999] {
            assert_eq!(parse_time(&format_time(micros)), Some(micros));
        }
    }

    #[test]
    fn encode_then_parse_is_the_identity() {
        let f = Fragment {
            preset: Some("gke".into()),
            yaml: None,
            etp: Some(TrafficPolicy::Local),
            nodes: Some(3),
            provider: Some(Provider::Aws),
            plugin: Some(NetworkPlugin::AzureCni),
            dataplane: Some(DataplaneOverride::KubeProxy(ProxyMode::Nftables)),
            client_inside: true,
            dual_stack: true,
            family: Some(IpFamily::Ipv6),
            seed: Some(7),
            changes: vec![
                LinkChange { at: 30_250_000, what: LinkChangeKind::Policy(TrafficPolicy::Cluster) },
                LinkChange { at: 31_000_001, what: LinkChangeKind::Affinity(false) },
                LinkChange { at: 31_000_001, what: LinkChangeKind::Replicas(0) },
            ],
            t: Some(99_999_999),
            speed: Some(0.25),
            sel: Some(12),
            editor: true,
            embed: true,
            lesson: Some(("aks".into(), 3)),
            compare: Some(CompareKind::Policy),
            problems: vec![],
        };
        let text = encode(&f);
        expect_test::expect!["preset=gke&etp=Local&nodes=3&provider=aws&plugin=azure-cni&mode=nftables&stack=dual&family=ipv6&client=inside&seed=7&ch=30.25s:etp:Cluster,31.000001s:affinity:off,31.000001s:replicas:0&t=99.999999s&speed=0.25&sel=12&editor=open&compare=1&embed=1&lesson=aks&step=3"].assert_eq(&text);
        assert_eq!(parse(&text, PRESETS), f);
        assert_eq!(encode(&Fragment::default()), "");
    }

    #[test]
    fn own_yaml_travels_compressed_and_bad_payloads_are_named() {
        let yaml = "apiVersion: v1\nkind: Service # <img src=x>\nmetadata: {name: web}\n".repeat(20);
        let f = Fragment { yaml: Some(yaml.clone()), preset: Some("gke".into()), ..Fragment::default() };
        let text = encode(&f);
        assert!(text.starts_with("yaml=") && !text.contains("preset"), "{text}");
        assert!(text.len() < yaml.len() / 4, "compressed: {} for {}", text.len(), yaml.len());
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b"=-_".contains(&b)), "{text}");
        assert_eq!(parse(&text, PRESETS).yaml.as_deref(), Some(yaml.as_str()));

        // Cut on a base64 boundary: the bytes decode, the DEFLATE stream ends early.
        let cut = &text[..5 + (text.len() - 5) / 8 * 4];
        assert_eq!(
            parse(cut, PRESETS).problems,
            ["yaml: not compressed YAML; was the link cut short or edited?; the preset is shown instead"]
        );
        let bomb = encode_yaml(&"a".repeat(MAX_LINK_YAML + 1));
        assert!(bomb.len() < 2000, "a bomb is small: {}", bomb.len());
        assert_eq!(
            parse(&format!("yaml={bomb}"), PRESETS).problems,
            ["yaml: it inflates to more than 256 KiB; the preset is shown instead"]
        );
        assert!(parse("yaml=!!", PRESETS).problems[0].starts_with("yaml: not base64url"));
        let binary = URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(&[0xff, 0xfe], 6));
        assert_eq!(
            parse(&format!("yaml={binary}"), PRESETS).problems,
            ["yaml: not UTF-8 text; the preset is shown instead"]
        );
    }
}
