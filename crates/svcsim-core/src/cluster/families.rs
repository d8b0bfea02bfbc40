//! A Service's IP families as the API server defaults and validates them when the Service is
//! created or patched: `ipFamilyPolicy`, `ipFamilies` and `clusterIPs` (`initIPFamilyFields` in
//! kubernetes' `pkg/registry/core/service/storage/alloc.go`, `validateUpgradeDowngradeIPFamilies`
//! in `pkg/apis/core/validation/validation.go`; `docs/fidelity.md#dual-stack-defaulting`).

use std::net::IpAddr;

use super::IpFamilyPolicy;
use crate::net::IpFamily;

/// What a Service asks for: each field as written, `None` or empty when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FamilyRequest {
    pub policy: Option<IpFamilyPolicy>,
    pub families: Vec<IpFamily>,
    pub cluster_ips: Vec<IpAddr>,
}

/// The fields after defaulting: the policy and the families in `clusterIPs` order (one or two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Families {
    pub policy: IpFamilyPolicy,
    pub families: Vec<IpFamily>,
}

/// A refusal: the field (`spec.ipFamilyPolicy`, `spec.ipFamilies[1]`, `spec.clusterIPs[0]`) and
/// the API server's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyError {
    pub field: String,
    pub message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> FamilyError {
    FamilyError { field: field.into(), message: message.into() }
}

/// Defaults and validates `request` on a cluster of `cluster` families (the default first), as
/// the API server does on create, in its order:
/// 1. an unset policy is SingleStack;
/// 2. the fields must be consistent: at most two of each, one address per family, each
///    clusterIP of the family at its place in ipFamilies, no family twice;
/// 3. a SingleStack Service may not have two clusterIPs or two families;
/// 4. the families follow any given clusterIPs, in order, each one the cluster must have;
/// 5. RequireDualStack needs a dual-stack cluster, and every family asked for must be the cluster's;
/// 6. no family given: the cluster's default;
/// 7. Prefer- or RequireDualStack with one family on a dual-stack cluster gets the other one.
///
/// Each step that finds problems stops there with all of them, as the API server's does.
pub fn default_families(request: &FamilyRequest, cluster: &[IpFamily]) -> Result<Families, Vec<FamilyError>> {
    let policy = request.policy.unwrap_or(IpFamilyPolicy::SingleStack);
    let configured = |f: &IpFamily| cluster.contains(f);
    // `ValidateServiceClusterIPsRelatedFields`.
    let mut errors = Vec::new();
    if request.cluster_ips.len() > 2 {
        errors.push(error("spec.clusterIPs", "must have at most 2 entries"));
    }
    if request.families.len() > 2 {
        errors.push(error("spec.ipFamilies", "must have at most 2 entries"));
    }
    if let [a, b] = request.cluster_ips[..]
        && IpFamily::of(a) == IpFamily::of(b)
    {
        errors.push(error("spec.clusterIPs", "may specify no more than one IP for each IP family"));
    }
    if let [a, b] = request.families[..]
        && a == b
    {
        errors.push(error("spec.ipFamilies[1]", format!("Duplicate value: \"{b}\"")));
    }
    for (i, (ip, f)) in request.cluster_ips.iter().zip(&request.families).enumerate() {
        if IpFamily::of(*ip) != *f {
            errors.push(error(
                format!("spec.clusterIPs[{i}]"),
                format!("Invalid value: \"{ip}\": expected an {f} value as indicated by `ipFamilies[{i}]`"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if policy == IpFamilyPolicy::SingleStack {
        if request.cluster_ips.len() == 2 {
            errors.push(error(
                "spec.ipFamilyPolicy",
                "Invalid value: \"SingleStack\": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
            ));
        }
        if request.families.len() == 2 {
            errors.push(error(
                "spec.ipFamilyPolicy",
                "Invalid value: \"SingleStack\": must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
            ));
        }
    }
    let mut families = request.families.clone();
    for (i, ip) in request.cluster_ips.iter().enumerate().skip(families.len()) {
        let f = IpFamily::of(*ip);
        if configured(&f) {
            families.push(f);
        } else {
            errors.push(error(
                format!("spec.clusterIPs[{i}]"),
                format!("Invalid value: \"{ip}\": {f} is not configured on this cluster"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if policy == IpFamilyPolicy::RequireDualStack && cluster.len() < 2 {
        errors.push(error(
            "spec.ipFamilyPolicy",
            "Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services",
        ));
    }
    for (i, f) in families.iter().enumerate() {
        if !configured(f) {
            errors.push(error(
                format!("spec.ipFamilies[{i}]"),
                format!("Invalid value: \"{f}\": not configured on this cluster"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if families.is_empty() {
        families.push(cluster[0]);
    }
    if policy != IpFamilyPolicy::SingleStack && families.len() == 1 && cluster.len() == 2 {
        families.push(if families[0] == IpFamily::Ipv4 { IpFamily::Ipv6 } else { IpFamily::Ipv4 });
    }
    Ok(Families { policy, families })
}

/// A patch of a Service's families: each field as the patch writes it, `None` when it leaves the
/// field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FamilyPatch {
    pub policy: Option<IpFamilyPolicy>,
    pub families: Option<Vec<IpFamily>>,
}

/// A Service's families after `patch`, as the API server updates them (`docs/fidelity.md#dual-stack-updates`):
/// 1. an unset policy keeps the old one, unset families keep the old ones;
/// 2. the primary family may not change (`spec.ipFamilies[0]`: "may not change once set");
/// 3. SingleStack with the families untouched is a downgrade: they are cut to the primary;
/// 4. fewer families under any other policy is refused ("must be 'SingleStack' to release the
///    secondary IP family");
/// 5. then the result is defaulted as on create: an upgrade to Prefer- or RequireDualStack on a
///    dual-stack cluster gets the other family, RequireDualStack on a single-stack one is refused.
///
/// The clusterIPs follow: the primary is kept, a new secondary is allocated, a dropped one released.
pub fn update_families(
    old: &Families,
    patch: &FamilyPatch,
    cluster: &[IpFamily],
) -> Result<Families, Vec<FamilyError>> {
    let policy = patch.policy.unwrap_or(old.policy);
    let mut families = patch.families.clone().unwrap_or_else(|| old.families.clone());
    if let (Some(new), Some(first)) = (families.first(), old.families.first())
        && new != first
    {
        let list = families.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ");
        return Err(vec![error(
            "spec.ipFamilies[0]",
            format!("Invalid value: []core.IPFamily{{{list}}}: may not change once set"),
        )]);
    }
    let untouched = patch.families.as_ref().is_none_or(|f| *f == old.families);
    if policy == IpFamilyPolicy::SingleStack && untouched {
        families.truncate(1);
    } else if policy != IpFamilyPolicy::SingleStack && families.len() < old.families.len() {
        return Err(vec![error(
            "spec.ipFamilyPolicy",
            format!("Invalid value: \"{policy}\": must be 'SingleStack' to release the secondary IP family"),
        )]);
    }
    default_families(&FamilyRequest { policy: Some(policy), families, cluster_ips: Vec::new() }, cluster)
}

#[cfg(test)]
mod tests {
    use super::*;
    use IpFamily::{Ipv4, Ipv6};
    use IpFamilyPolicy::*;

    const V4: &str = "10.0.0.10";
    const V6: &str = "fd00::10";

    /// One row of the API server's defaulting table: the cluster's families, what the Service
    /// asks for, and the result (the families in `clusterIPs` order, or the first error).
    fn check(cluster: &[IpFamily], policy: Option<IpFamilyPolicy>, families: &[IpFamily], ips: &[&str]) -> String {
        let request = FamilyRequest {
            policy,
            families: families.to_vec(),
            cluster_ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
        };
        let names = |fs: &[IpFamily]| fs.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let policy = policy.map_or("unset".to_string(), |p| p.to_string());
        let asked = format!(
            "{:<9} {policy:<16} ipFamilies=[{}] clusterIPs=[{}]",
            names(cluster),
            names(families),
            ips.join(",")
        );
        match default_families(&request, cluster) {
            Ok(f) => format!("{asked}: {} [{}]", f.policy, names(&f.families)),
            Err(e) => format!("{asked}: error {}: {}", e[0].field, e[0].message),
        }
    }

    /// Every policy on every cluster stack with every combination of given clusterIPs
    /// (`docs/fidelity.md#dual-stack-defaulting`).
    #[test]
    fn every_policy_on_every_cluster_with_every_cluster_ips() {
        let clusters: [&[IpFamily]; 4] = [&[Ipv4], &[Ipv6], &[Ipv4, Ipv6], &[Ipv6, Ipv4]];
        let policies = [None, Some(SingleStack), Some(PreferDualStack), Some(RequireDualStack)];
        let ips: [&[&str]; 5] = [&[], &[V4], &[V6], &[V4, V6], &[V6, V4]];
        let mut rows = Vec::new();
        for cluster in clusters {
            for policy in policies {
                for given in ips {
                    rows.push(check(cluster, policy, &[], given));
                }
            }
        }
        expect_test::expect![[r#"
            IPv4      unset            ipFamilies=[] clusterIPs=[]: SingleStack [IPv4]
            IPv4      unset            ipFamilies=[] clusterIPs=[10.0.0.10]: SingleStack [IPv4]
            IPv4      unset            ipFamilies=[] clusterIPs=[fd00::10]: error spec.clusterIPs[0]: Invalid value: "fd00::10": IPv6 is not configured on this cluster
            IPv4      unset            ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv4      unset            ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv4      SingleStack      ipFamilies=[] clusterIPs=[]: SingleStack [IPv4]
            IPv4      SingleStack      ipFamilies=[] clusterIPs=[10.0.0.10]: SingleStack [IPv4]
            IPv4      SingleStack      ipFamilies=[] clusterIPs=[fd00::10]: error spec.clusterIPs[0]: Invalid value: "fd00::10": IPv6 is not configured on this cluster
            IPv4      SingleStack      ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv4      SingleStack      ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv4      PreferDualStack  ipFamilies=[] clusterIPs=[]: PreferDualStack [IPv4]
            IPv4      PreferDualStack  ipFamilies=[] clusterIPs=[10.0.0.10]: PreferDualStack [IPv4]
            IPv4      PreferDualStack  ipFamilies=[] clusterIPs=[fd00::10]: error spec.clusterIPs[0]: Invalid value: "fd00::10": IPv6 is not configured on this cluster
            IPv4      PreferDualStack  ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.clusterIPs[1]: Invalid value: "fd00::10": IPv6 is not configured on this cluster
            IPv4      PreferDualStack  ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.clusterIPs[0]: Invalid value: "fd00::10": IPv6 is not configured on this cluster
            IPv4      RequireDualStack ipFamilies=[] clusterIPs=[]: error spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services
            IPv4      RequireDualStack ipFamilies=[] clusterIPs=[10.0.0.10]: error spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services
            IPv4      RequireDualStack ipFamilies=[] clusterIPs=[fd00::10]: error spec.clusterIPs[0]: Invalid value: "fd00::10": IPv6 is not configured on this cluster
            IPv4      RequireDualStack ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.clusterIPs[1]: Invalid value: "fd00::10": IPv6 is not configured on this cluster
            IPv4      RequireDualStack ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.clusterIPs[0]: Invalid value: "fd00::10": IPv6 is not configured on this cluster
            IPv6      unset            ipFamilies=[] clusterIPs=[]: SingleStack [IPv6]
            IPv6      unset            ipFamilies=[] clusterIPs=[10.0.0.10]: error spec.clusterIPs[0]: Invalid value: "10.0.0.10": IPv4 is not configured on this cluster
            IPv6      unset            ipFamilies=[] clusterIPs=[fd00::10]: SingleStack [IPv6]
            IPv6      unset            ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv6      unset            ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv6      SingleStack      ipFamilies=[] clusterIPs=[]: SingleStack [IPv6]
            IPv6      SingleStack      ipFamilies=[] clusterIPs=[10.0.0.10]: error spec.clusterIPs[0]: Invalid value: "10.0.0.10": IPv4 is not configured on this cluster
            IPv6      SingleStack      ipFamilies=[] clusterIPs=[fd00::10]: SingleStack [IPv6]
            IPv6      SingleStack      ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv6      SingleStack      ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv6      PreferDualStack  ipFamilies=[] clusterIPs=[]: PreferDualStack [IPv6]
            IPv6      PreferDualStack  ipFamilies=[] clusterIPs=[10.0.0.10]: error spec.clusterIPs[0]: Invalid value: "10.0.0.10": IPv4 is not configured on this cluster
            IPv6      PreferDualStack  ipFamilies=[] clusterIPs=[fd00::10]: PreferDualStack [IPv6]
            IPv6      PreferDualStack  ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.clusterIPs[0]: Invalid value: "10.0.0.10": IPv4 is not configured on this cluster
            IPv6      PreferDualStack  ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.clusterIPs[1]: Invalid value: "10.0.0.10": IPv4 is not configured on this cluster
            IPv6      RequireDualStack ipFamilies=[] clusterIPs=[]: error spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services
            IPv6      RequireDualStack ipFamilies=[] clusterIPs=[10.0.0.10]: error spec.clusterIPs[0]: Invalid value: "10.0.0.10": IPv4 is not configured on this cluster
            IPv6      RequireDualStack ipFamilies=[] clusterIPs=[fd00::10]: error spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services
            IPv6      RequireDualStack ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.clusterIPs[0]: Invalid value: "10.0.0.10": IPv4 is not configured on this cluster
            IPv6      RequireDualStack ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.clusterIPs[1]: Invalid value: "10.0.0.10": IPv4 is not configured on this cluster
            IPv4,IPv6 unset            ipFamilies=[] clusterIPs=[]: SingleStack [IPv4]
            IPv4,IPv6 unset            ipFamilies=[] clusterIPs=[10.0.0.10]: SingleStack [IPv4]
            IPv4,IPv6 unset            ipFamilies=[] clusterIPs=[fd00::10]: SingleStack [IPv6]
            IPv4,IPv6 unset            ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv4,IPv6 unset            ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv4,IPv6 SingleStack      ipFamilies=[] clusterIPs=[]: SingleStack [IPv4]
            IPv4,IPv6 SingleStack      ipFamilies=[] clusterIPs=[10.0.0.10]: SingleStack [IPv4]
            IPv4,IPv6 SingleStack      ipFamilies=[] clusterIPs=[fd00::10]: SingleStack [IPv6]
            IPv4,IPv6 SingleStack      ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv4,IPv6 SingleStack      ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv4,IPv6 PreferDualStack  ipFamilies=[] clusterIPs=[]: PreferDualStack [IPv4,IPv6]
            IPv4,IPv6 PreferDualStack  ipFamilies=[] clusterIPs=[10.0.0.10]: PreferDualStack [IPv4,IPv6]
            IPv4,IPv6 PreferDualStack  ipFamilies=[] clusterIPs=[fd00::10]: PreferDualStack [IPv6,IPv4]
            IPv4,IPv6 PreferDualStack  ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: PreferDualStack [IPv4,IPv6]
            IPv4,IPv6 PreferDualStack  ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: PreferDualStack [IPv6,IPv4]
            IPv4,IPv6 RequireDualStack ipFamilies=[] clusterIPs=[]: RequireDualStack [IPv4,IPv6]
            IPv4,IPv6 RequireDualStack ipFamilies=[] clusterIPs=[10.0.0.10]: RequireDualStack [IPv4,IPv6]
            IPv4,IPv6 RequireDualStack ipFamilies=[] clusterIPs=[fd00::10]: RequireDualStack [IPv6,IPv4]
            IPv4,IPv6 RequireDualStack ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: RequireDualStack [IPv4,IPv6]
            IPv4,IPv6 RequireDualStack ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: RequireDualStack [IPv6,IPv4]
            IPv6,IPv4 unset            ipFamilies=[] clusterIPs=[]: SingleStack [IPv6]
            IPv6,IPv4 unset            ipFamilies=[] clusterIPs=[10.0.0.10]: SingleStack [IPv4]
            IPv6,IPv4 unset            ipFamilies=[] clusterIPs=[fd00::10]: SingleStack [IPv6]
            IPv6,IPv4 unset            ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv6,IPv4 unset            ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv6,IPv4 SingleStack      ipFamilies=[] clusterIPs=[]: SingleStack [IPv6]
            IPv6,IPv4 SingleStack      ipFamilies=[] clusterIPs=[10.0.0.10]: SingleStack [IPv4]
            IPv6,IPv4 SingleStack      ipFamilies=[] clusterIPs=[fd00::10]: SingleStack [IPv6]
            IPv6,IPv4 SingleStack      ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv6,IPv4 SingleStack      ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified
            IPv6,IPv4 PreferDualStack  ipFamilies=[] clusterIPs=[]: PreferDualStack [IPv6,IPv4]
            IPv6,IPv4 PreferDualStack  ipFamilies=[] clusterIPs=[10.0.0.10]: PreferDualStack [IPv4,IPv6]
            IPv6,IPv4 PreferDualStack  ipFamilies=[] clusterIPs=[fd00::10]: PreferDualStack [IPv6,IPv4]
            IPv6,IPv4 PreferDualStack  ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: PreferDualStack [IPv4,IPv6]
            IPv6,IPv4 PreferDualStack  ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: PreferDualStack [IPv6,IPv4]
            IPv6,IPv4 RequireDualStack ipFamilies=[] clusterIPs=[]: RequireDualStack [IPv6,IPv4]
            IPv6,IPv4 RequireDualStack ipFamilies=[] clusterIPs=[10.0.0.10]: RequireDualStack [IPv4,IPv6]
            IPv6,IPv4 RequireDualStack ipFamilies=[] clusterIPs=[fd00::10]: RequireDualStack [IPv6,IPv4]
            IPv6,IPv4 RequireDualStack ipFamilies=[] clusterIPs=[10.0.0.10,fd00::10]: RequireDualStack [IPv4,IPv6]
            IPv6,IPv4 RequireDualStack ipFamilies=[] clusterIPs=[fd00::10,10.0.0.10]: RequireDualStack [IPv6,IPv4]
        "#]]
        .assert_eq(&(rows.join("\n") + "\n"));
    }

    /// Given `ipFamilies`, alone and with clusterIPs, including the inconsistent ones.
    #[test]
    fn given_ip_families_are_kept_in_order_and_checked() {
        let rows: Vec<String> = [
            check(&[Ipv4, Ipv6], Some(SingleStack), &[Ipv6], &[]),
            check(&[Ipv4, Ipv6], Some(SingleStack), &[Ipv4, Ipv6], &[]),
            check(&[Ipv6], Some(SingleStack), &[Ipv4], &[]),
            check(&[Ipv4, Ipv6], Some(PreferDualStack), &[Ipv6], &[]),
            check(&[Ipv4], Some(PreferDualStack), &[Ipv4, Ipv6], &[]),
            check(&[Ipv4, Ipv6], Some(RequireDualStack), &[Ipv6, Ipv4], &[V6]),
            check(&[Ipv4, Ipv6], Some(RequireDualStack), &[Ipv4], &[V6]),
            check(&[Ipv4, Ipv6], Some(RequireDualStack), &[Ipv4, Ipv4], &[]),
            check(&[Ipv4, Ipv6], Some(RequireDualStack), &[], &[V4, "10.0.0.11"]),
            check(&[Ipv4, Ipv6], None, &[Ipv4, Ipv6, Ipv4], &[]),
        ]
        .into();
        expect_test::expect![[r#"
            IPv4,IPv6 SingleStack      ipFamilies=[IPv6] clusterIPs=[]: SingleStack [IPv6]
            IPv4,IPv6 SingleStack      ipFamilies=[IPv4,IPv6] clusterIPs=[]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified
            IPv6      SingleStack      ipFamilies=[IPv4] clusterIPs=[]: error spec.ipFamilies[0]: Invalid value: "IPv4": not configured on this cluster
            IPv4,IPv6 PreferDualStack  ipFamilies=[IPv6] clusterIPs=[]: PreferDualStack [IPv6,IPv4]
            IPv4      PreferDualStack  ipFamilies=[IPv4,IPv6] clusterIPs=[]: error spec.ipFamilies[1]: Invalid value: "IPv6": not configured on this cluster
            IPv4,IPv6 RequireDualStack ipFamilies=[IPv6,IPv4] clusterIPs=[fd00::10]: RequireDualStack [IPv6,IPv4]
            IPv4,IPv6 RequireDualStack ipFamilies=[IPv4] clusterIPs=[fd00::10]: error spec.clusterIPs[0]: Invalid value: "fd00::10": expected an IPv4 value as indicated by `ipFamilies[0]`
            IPv4,IPv6 RequireDualStack ipFamilies=[IPv4,IPv4] clusterIPs=[]: error spec.ipFamilies[1]: Duplicate value: "IPv4"
            IPv4,IPv6 RequireDualStack ipFamilies=[] clusterIPs=[10.0.0.10,10.0.0.11]: error spec.clusterIPs: may specify no more than one IP for each IP family
            IPv4,IPv6 unset            ipFamilies=[IPv4,IPv6,IPv4] clusterIPs=[]: error spec.ipFamilies: must have at most 2 entries
        "#]]
        .assert_eq(&(rows.join("\n") + "\n"));
    }

    /// A patch of a running Service: upgrades, downgrades and what the API server refuses.
    #[test]
    fn a_patch_upgrades_downgrades_and_keeps_the_primary() {
        let dual = [Ipv4, Ipv6];
        let old = |policy, families: &[IpFamily]| Families { policy, families: families.to_vec() };
        let row =
            |cluster: &[IpFamily], old: Families, policy: Option<IpFamilyPolicy>, families: Option<&[IpFamily]>| {
                let patch = FamilyPatch { policy, families: families.map(<[IpFamily]>::to_vec) };
                let names = |fs: &[IpFamily]| fs.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
                let asked = format!(
                    "{} {} [{}] + policy {} families {}",
                    names(cluster),
                    old.policy,
                    names(&old.families),
                    policy.map_or("-".to_string(), |p| p.to_string()),
                    families.map_or("-".to_string(), |f| format!("[{}]", names(f)))
                );
                match update_families(&old, &patch, cluster) {
                    Ok(f) => format!("{asked}: {} [{}]", f.policy, names(&f.families)),
                    Err(e) => format!("{asked}: error {}: {}", e[0].field, e[0].message),
                }
            };
        let rows = [
            row(&dual, old(SingleStack, &[Ipv4]), Some(PreferDualStack), None),
            row(&dual, old(SingleStack, &[Ipv6]), Some(RequireDualStack), None),
            row(&dual, old(SingleStack, &[Ipv4]), Some(PreferDualStack), Some(&[Ipv4, Ipv6])),
            row(&[Ipv4], old(SingleStack, &[Ipv4]), Some(PreferDualStack), None),
            row(&[Ipv4], old(SingleStack, &[Ipv4]), Some(RequireDualStack), None),
            row(&dual, old(PreferDualStack, &[Ipv4, Ipv6]), Some(SingleStack), None),
            row(&dual, old(RequireDualStack, &[Ipv6, Ipv4]), Some(SingleStack), Some(&[Ipv6])),
            row(&dual, old(PreferDualStack, &[Ipv4, Ipv6]), None, Some(&[Ipv4])),
            row(&dual, old(PreferDualStack, &[Ipv4, Ipv6]), None, Some(&[Ipv6, Ipv4])),
            row(&dual, old(SingleStack, &[Ipv4]), Some(SingleStack), Some(&[Ipv6])),
            row(&dual, old(SingleStack, &[Ipv4]), Some(SingleStack), Some(&[Ipv4, Ipv6])),
            row(&dual, old(PreferDualStack, &[Ipv4, Ipv6]), Some(RequireDualStack), None),
        ];
        expect_test::expect![[r#"
            IPv4,IPv6 SingleStack [IPv4] + policy PreferDualStack families -: PreferDualStack [IPv4,IPv6]
            IPv4,IPv6 SingleStack [IPv6] + policy RequireDualStack families -: RequireDualStack [IPv6,IPv4]
            IPv4,IPv6 SingleStack [IPv4] + policy PreferDualStack families [IPv4,IPv6]: PreferDualStack [IPv4,IPv6]
            IPv4 SingleStack [IPv4] + policy PreferDualStack families -: PreferDualStack [IPv4]
            IPv4 SingleStack [IPv4] + policy RequireDualStack families -: error spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services
            IPv4,IPv6 PreferDualStack [IPv4,IPv6] + policy SingleStack families -: SingleStack [IPv4]
            IPv4,IPv6 RequireDualStack [IPv6,IPv4] + policy SingleStack families [IPv6]: SingleStack [IPv6]
            IPv4,IPv6 PreferDualStack [IPv4,IPv6] + policy - families [IPv4]: error spec.ipFamilyPolicy: Invalid value: "PreferDualStack": must be 'SingleStack' to release the secondary IP family
            IPv4,IPv6 PreferDualStack [IPv4,IPv6] + policy - families [IPv6,IPv4]: error spec.ipFamilies[0]: Invalid value: []core.IPFamily{"IPv6", "IPv4"}: may not change once set
            IPv4,IPv6 SingleStack [IPv4] + policy SingleStack families [IPv6]: error spec.ipFamilies[0]: Invalid value: []core.IPFamily{"IPv6"}: may not change once set
            IPv4,IPv6 SingleStack [IPv4] + policy SingleStack families [IPv4,IPv6]: error spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified
            IPv4,IPv6 PreferDualStack [IPv4,IPv6] + policy RequireDualStack families -: RequireDualStack [IPv4,IPv6]
        "#]]
        .assert_eq(&(rows.join("\n") + "\n"));
    }
}
