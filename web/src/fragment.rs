//! The URL fragment as the initial state: `#preset=aks-blog&etp=Local&t=120s&speed=2`. Anything
//! unknown or malformed is reported, never fatal: the page falls back to the default for it.

use svcsim_core::cluster::TrafficPolicy;
use svcsim_core::manifest::parse_duration;
use svcsim_core::time::Duration;

/// What a fragment asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fragment {
    pub preset: Option<String>,
    pub etp: Option<TrafficPolicy>,
    /// Open paused at this simulated time.
    pub t: Option<Duration>,
    pub speed: Option<f64>,
    /// What could not be used, for a message on the page.
    pub problems: Vec<String>,
}

/// The longest fragment read; a longer one is ignored with a message.
pub const MAX_FRAGMENT: usize = 4096;

/// Speeds offered by the speed control.
pub const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Parses `#k=v&k=v` (the leading `#` is optional).
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
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "preset" if presets.contains(&value) => f.preset = Some(value.to_string()),
            "preset" => f.problems.push(format!("no preset is called {:?}", truncate(value))),
            "etp" => match value {
                "Cluster" => f.etp = Some(TrafficPolicy::Cluster),
                "Local" => f.etp = Some(TrafficPolicy::Local),
                _ => f.problems.push(format!("etp must be Cluster or Local, not {:?}", truncate(value))),
            },
            "t" => match parse_duration(value).or_else(|| value.parse::<u64>().ok().map(Duration::from_secs)) {
                Some(d) if d <= Duration::from_secs(3600) => f.t = Some(d),
                _ => {
                    f.problems.push(format!("t must be a time like 120s or 2m (at most 1h), not {:?}", truncate(value)))
                }
            },
            "speed" => match value.parse::<f64>() {
                Ok(s) if SPEEDS.contains(&s) => f.speed = Some(s),
                _ => f
                    .problems
                    .push(format!("speed must be one of 0.25, 0.5, 1, 2, 4, 8, 16, not {:?}", truncate(value))),
            },
            _ => f.problems.push(format!("unknown link parameter {:?}", truncate(key))),
        }
    }
    f
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
        assert_eq!(f.t, Some(Duration::from_secs(120)));
        assert_eq!(f.speed, Some(2.0));
        assert!(f.problems.is_empty());
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
                "t must be a time like 120s or 2m (at most 1h), not \"forever\"",
                "speed must be one of 0.25, 0.5, 1, 2, 4, 8, 16, not \"3\"",
                "unknown link parameter \"x\"",
            ]
        );
        let long = format!("#preset={}", "a".repeat(5000));
        assert_eq!(parse(&long, PRESETS).problems.len(), 1);
        assert_eq!(parse("", PRESETS), Fragment::default());
    }
}
