//! Guided lessons as data: steps of text beside the live simulator, each setting its state with a
//! link fragment, some asking the learner to predict what happens before it is shown. The tests
//! run every step and check that each quiz's answer is what the simulation actually shows.

/// A lesson: an ordered list of steps.
#[derive(Debug)]
pub struct Lesson {
    pub id: &'static str,
    pub title: &'static str,
    pub steps: &'static [Step],
}

/// One step: its text, and the simulator state it sets (a link fragment, see `docs/links.md`).
#[derive(Debug)]
pub struct Step {
    pub title: &'static str,
    /// Paragraphs, separated by blank lines.
    pub text: &'static str,
    pub state: &'static str,
    pub quiz: Option<Quiz>,
}

/// Predict, then reveal: the step's `state` is the moment before; answering moves the simulator
/// to `reveal`, where `check` holds.
#[derive(Debug)]
pub struct Quiz {
    pub question: &'static str,
    pub choices: &'static [&'static str],
    pub answer: usize,
    /// Why, naming the rule that decided, with the sections of `docs/fidelity.md` that say so.
    pub why: &'static str,
    pub reveal: &'static str,
    /// Read by the tests only (they keep the lessons honest); the page shows the frame itself.
    #[cfg_attr(not(test), allow(dead_code))]
    pub check: Check,
}

/// What the revealed frame shows, for the tests that keep the lessons honest.
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub enum Check {
    /// The app's latest answer starts with one of these.
    AppPrints(&'static [&'static str]),
    /// Health Probe Status of the last complete minute, as the panel prints it.
    ProbePercent(&'static str),
    /// The named client's latest request was refused (a TCP reset).
    Refused(&'static str),
    /// The reply to the app's latest answer went through these places after the pod, in order.
    ReplyPath(&'static [&'static str]),
}

pub fn find(id: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.id == id)
}

pub const LESSONS: &[Lesson] = &[AKS, SOURCE_IP, NFTABLES, DSR];

const AKS: Lesson = Lesson {
    id: "aks",
    title: "Why does my pod see the wrong client IP?",
    steps: &[
        Step {
            title: "A Service behind a cloud load balancer",
            text: "A one-replica Node.js app runs on a two-node AKS cluster (kubenet), behind a Service of type LoadBalancer. A laptop at 198.51.100.79 requests the load balancer's address, 203.0.113.10, once a second.\n\nPress Play (or Space) and follow one request: it leaves the laptop as a blue circle, the load balancer picks a node, and on the node kube-proxy's iptables rules rewrite it.",
            state: "preset=aks-blog&t=0.4s",
            quiz: None,
        },
        Step {
            title: "Predict: what does the app print?",
            text: "The app answers with the source address of the connection it received, as Node.js prints it.",
            state: "preset=aks-blog&t=0.4s",
            quiz: Some(Quiz {
                question: "The Service has the default externalTrafficPolicy: Cluster. What will the page show?",
                choices: &[
                    "::ffff:198.51.100.79, the laptop's address",
                    "::ffff:203.0.113.10, the load balancer's address",
                    "a private address from inside the cluster",
                ],
                answer: 2,
                why: "Under Cluster, any node may receive the request and forward it to a pod on another node, and the reply must come back through that node. So kube-proxy marks external traffic in KUBE-EXT-… (KUBE-MARK-MASQ) and KUBE-POSTROUTING masquerades it: the source becomes the node's own address toward the pod, cbr0's 10.244.0.1 when the pod is on the same node (kubenet) and the node IP otherwise (docs/fidelity.md#external-traffic-policy, #masquerade, #snat-source-address). Node.js prints it IPv4-mapped, ::ffff:… (docs/fidelity.md#what-the-app-prints).",
                reveal: "preset=aks-blog&t=6s",
                check: Check::AppPrints(&["::ffff:10.244.0.1", "::ffff:10.240.0."]),
            }),
        },
        Step {
            title: "Why: DNAT and SNAT",
            text: "Click an orange diamond, or an event-log row that says DNAT … SNAT. The packet inspector shows every hop with its headers before and after: at the node, the destination becomes the pod (DNAT, by KUBE-SEP-…) and the source becomes the node's address (SNAT, by KUBE-POSTROUTING).\n\nOn the way back, conntrack undoes both, so the laptop sees an answer from 203.0.113.10 (docs/fidelity.md#conntrack).",
            state: "preset=aks-blog&t=6s",
            quiz: None,
        },
        Step {
            title: "Health probes: 100 %",
            text: "The Azure load balancer probes every node to decide where to send traffic. Under Cluster it opens a TCP connection to the Service's NodePort every 5 s (docs/fidelity.md#probe-profiles); every node accepts, whether it runs the pod or not, so both nodes stay in rotation and Health Probe Status is 100 % (docs/fidelity.md#health-probe-status).",
            state: "preset=aks-blog&t=125s",
            quiz: None,
        },
        Step {
            title: "Predict: switch to Local",
            text: "Now the Service is patched to externalTrafficPolicy: Local, as in kubectl patch … '{\"spec\":{\"externalTrafficPolicy\":\"Local\"}}'.",
            state: "preset=aks-blog&t=125s",
            quiz: Some(Quiz {
                question: "After the switch, what will the app print?",
                choices: &[
                    "::ffff:198.51.100.79, the laptop's address",
                    "still a private address from inside the cluster",
                    "nothing: the requests fail",
                ],
                answer: 0,
                why: "Under Local, KUBE-EXT-… jumps to KUBE-SVL-…, which lists only this node's endpoints, and no rule marks the packet for masquerading: DNAT only, no SNAT, so the pod sees the laptop (docs/fidelity.md#external-traffic-policy). A node without a local endpoint drops the new connection instead (KUBE-EXTERNAL-SERVICES; docs/fidelity.md#no-endpoints), and the load balancer is about to stop sending it any.",
                reveal: "preset=aks-blog&ch=125s:etp:Local&t=140s",
                check: Check::AppPrints(&["::ffff:198.51.100.79"]),
            }),
        },
        Step {
            title: "Predict: Health Probe Status",
            text: "Under Local the Service gets a healthCheckNodePort, and the load balancer now probes it over HTTP.",
            state: "preset=aks-blog&ch=125s:etp:Local&t=140s",
            quiz: Some(Quiz {
                question: "A few minutes later, what will Health Probe Status show?",
                choices: &["100 %", "50 %", "0 %"],
                answer: 1,
                why: "kube-proxy answers the healthCheckNodePort with HTTP 200 on a node with a ready local endpoint and 503 on a node without one (docs/fidelity.md#kube-proxy-health-servers). Azure probes /healthz on it every 5 s and takes node-1 out of rotation after 2 failures (docs/fidelity.md#probe-profiles). The metric is successful ÷ total probes per minute (docs/fidelity.md#health-probe-status): one node of two answers, so 50 %. This is the expected state, not an outage: traffic only goes where a pod can serve it.",
                reveal: "preset=aks-blog&ch=125s:etp:Local&t=250s",
                check: Check::ProbePercent("50%"),
            }),
        },
        Step {
            title: "The price: balancing per node",
            text: "With Local, the load balancer splits traffic between nodes, not pods, and each node uses only its own pods. Here node-0 runs one pod and node-1 three: node-0's pod serves about half of the requests, each of node-1's about a sixth (docs/fidelity.md#lb-delivery). Look at the addresses and counts under What the app sees.",
            state: "preset=local-imbalance&t=60s",
            quiz: None,
        },
        Step {
            title: "Predict: the same story over IPv6",
            text: "AKS also runs dual-stack clusters. This one has an IPv4 and an IPv6 range; the Service asks for both families (ipFamilyPolicy: PreferDualStack), so it has a clusterIP and an Azure frontend of each, and every node and pod an address of each (the boxes show both). The laptop now connects over IPv6, to [2001:db8:113::10]:80, under the default externalTrafficPolicy: Cluster, and Health Probe Status shows the IPv6 frontend. The IP family control under Change the cluster does this for any scenario.",
            state: "preset=aks-dual-stack&family=ipv6&t=0.4s",
            quiz: Some(Quiz {
                question: "What will the app print for the laptop's IPv6 requests?",
                choices: &[
                    "2001:db8::79, the laptop's address",
                    "a node's IPv6 address, as over IPv4",
                    "nothing: IPv6 requests fail",
                ],
                answer: 1,
                why: "Under Cluster kube-proxy's ip6tables rules masquerade external traffic as its iptables rules do, to the egress device's IPv6 address (docs/fidelity.md#dual-stack-proxies). Which node? Look at the rotation: Azure probes IPv6 frontends from a link-local address, fe80::1234:5678:9abc, and the kernel will not forward a packet with a link-local source out of another interface than it came in by (ICMPv6 \"beyond scope of source address\"). node-0's probe is DNATed to its own pod behind cbr0 and refused, so node-0 is out of the IPv6 rotation; node-1 sends its probe back out of eth0 to node-0's pod and passes. The reverse of Local: every request goes through node-1, and the pod sees node-1's address. With pods only behind the probed node (one node, say) every probe fails and so does the traffic, which is why AKS asks IPv6 Services to use Local (docs/fidelity.md#dual-stack-probes).",
                reveal: "preset=aks-dual-stack&family=ipv6&t=125s",
                check: Check::AppPrints(&["2001:1234:5678:9abc::5"]),
            }),
        },
        Step {
            title: "Over IPv6, with Local",
            text: "The same cluster with externalTrafficPolicy: Local, as AKS asks of IPv6 Services. The IPv6 probe now goes to the healthCheckNodePort, which kube-proxy answers on the node itself: the pod's node passes, the other fails, as over IPv4.",
            state: "preset=aks-dual-stack&family=ipv6&etp=Local&t=0.4s",
            quiz: Some(Quiz {
                question: "What does the app print now?",
                choices: &["::ffff:2001:db8::79", "2001:db8::79", "a node's IPv6 address"],
                answer: 1,
                why: "Under Local nothing is masqueraded, over either family (docs/fidelity.md#external-traffic-policy). Node.js listens on ::, so an IPv4 peer prints IPv4-mapped (::ffff:198.51.100.79), but an IPv6 peer prints as itself, compressed: 2001:db8::79 (docs/fidelity.md#dual-stack-proxies). On a dual-stack cluster, what the app prints tells you which family the client came over.",
                reveal: "preset=aks-dual-stack&family=ipv6&etp=Local&t=30s",
                check: Check::AppPrints(&["2001:db8::79"]),
            }),
        },
        Step {
            title: "Recap",
            text: "Cluster: every node can serve, load spreads evenly over pods, but the pod sees a node-side address. Local: the pod sees the client, nodes without a pod leave the load balancer's rotation (Health Probe Status falls to the share of nodes with a pod), and load is spread per node.\n\nThis is the whole story in one run: the Service is patched to Local at 90 s. Use the controls to try more replicas or nodes, or pick another scenario.",
            state: "preset=aks-blog-switch&t=0s",
            quiz: None,
        },
    ],
};

const SOURCE_IP: Lesson = Lesson {
    id: "source-ip",
    title: "Using Source IP: the Kubernetes tutorial, case by case",
    steps: &[
        Step {
            title: "ClusterIP, from a pod",
            text: "The tutorial's echoserver prints client_address=… for every request. A busybox pod (10.180.3.8) calls the Service's ClusterIP.",
            state: "preset=source-ip-clusterip&t=0s",
            quiz: Some(Quiz {
                question: "What client_address does the echoserver print?",
                choices: &["the client pod's IP", "the client pod's node IP", "the ClusterIP"],
                answer: 0,
                why: "Traffic from a pod to a ClusterIP is DNATed to the endpoint but not masqueraded: kube-proxy only marks for SNAT what does not come from the cluster's pod CIDR (docs/fidelity.md#masquerade). The tutorial: \"the client_address is always the client pod's IP address\" (the tutorial's case A).",
                reveal: "preset=source-ip-clusterip&t=29s",
                check: Check::AppPrints(&["client_address=10.180.3.8"]),
            }),
        },
        Step {
            title: "NodePort, externalTrafficPolicy: Cluster",
            text: "Now a client outside the cluster curls the NodePort on each of the three nodes in turn. The pod runs on kubernetes-node-6jst.",
            state: "preset=source-ip-nodeport-cluster&t=0s",
            quiz: Some(Quiz {
                question: "What do the three answers show?",
                choices: &[
                    "198.51.100.79 each time",
                    "a cluster-internal address that depends on the node",
                    "only the pod's node answers",
                ],
                answer: 1,
                why: "Every node accepts the NodePort and masquerades the connection (KUBE-NODEPORTS → KUBE-EXT-… → KUBE-MARK-MASQ; docs/fidelity.md#nodeports): via another node the pod sees that node's IP (10.240.0.x); via its own node it sees the node's cbr0 address, 10.180.1.1 (docs/fidelity.md#snat-source-address; the tutorial's case B).",
                reveal: "preset=source-ip-nodeport-cluster&t=29s",
                check: Check::AppPrints(&["client_address=10.180.1.1", "client_address=10.240.0."]),
            }),
        },
        Step {
            title: "NodePort, externalTrafficPolicy: Local",
            text: "The Service is patched to Local and the client tries every node again.",
            state: "preset=source-ip-nodeport-local&t=0s",
            quiz: Some(Quiz {
                question: "What happens now?",
                choices: &[
                    "every node answers, with 198.51.100.79",
                    "only the pod's node answers, with 198.51.100.79",
                    "every node answers, with its own IP",
                ],
                answer: 1,
                why: "Under Local a node uses only its own endpoints and does not masquerade. The pod's node answers with the real client address; the other two drop the packet in KUBE-EXTERNAL-SERVICES, \"has no local endpoints\" (docs/fidelity.md#no-endpoints; the tutorial's case C). The event log shows both drops.",
                reveal: "preset=source-ip-nodeport-local&t=29s",
                check: Check::AppPrints(&["client_address=198.51.100.79"]),
            }),
        },
        Step {
            title: "LoadBalancer, externalTrafficPolicy: Cluster",
            text: "Behind a cloud load balancer (GCP here) under Cluster, every Ready node is in rotation and any of them may receive a request: the app sees 10.240.0.x node addresses or the pod node's 10.180.1.1, as the tutorial shows (the tutorial's case D).",
            state: "preset=source-ip-lb-cluster&t=20s",
            quiz: None,
        },
        Step {
            title: "LoadBalancer, externalTrafficPolicy: Local",
            text: "Patched to Local, the Service gets a healthCheckNodePort, and the load balancer's health checks use it. Three nodes, one pod: look at how many nodes the Health Probe Status panel has in rotation.",
            state: "preset=source-ip-lb-local&t=0s",
            quiz: Some(Quiz {
                question: "What does the echoserver print now?",
                choices: &[
                    "client_address=198.51.100.79 for every request",
                    "a node's address, depending on the node that received the request",
                    "nothing for two requests in three: those nodes drop them",
                ],
                answer: 0,
                why: "Only the pod's node answers the healthCheckNodePort with 200; the other two answer 503 and are out of rotation (docs/fidelity.md#kube-proxy-health-servers, #probe-profiles), so the load balancer sends every request to the pod's node, 1/3 in rotation. That node does not masquerade under Local, and the echoserver prints the client (the tutorial's case E).",
                reveal: "preset=source-ip-lb-local&t=29s",
                check: Check::AppPrints(&["client_address=198.51.100.79"]),
            }),
        },
    ],
};

const NFTABLES: Lesson = Lesson {
    id: "nftables",
    title: "The same story in kube-proxy's nftables mode",
    steps: &[
        Step {
            title: "Other rules, the same job",
            text: "This is the AKS cluster of the first lesson, with kube-proxy in nftables mode (GA since Kubernetes v1.33): each node box says kube-proxy (nftables), and the kube-proxy mode control under Change the cluster switches any scenario between the two.\n\nClick an orange diamond. Instead of a chain per Service, one verdict map, service-ips, sends the request to its Service's chain (\"service-ips element 203.0.113.10 . tcp . 80\"); numgen random picks the endpoint; the external- chain jumps to mark-for-masquerade, and masquerading masquerades it (docs/fidelity.md#kube-proxy-nftables-rules, #nftables-walk).",
            state: "preset=aks-blog-nftables&t=6s",
            quiz: None,
        },
        Step {
            title: "Predict: what does the app print?",
            text: "The Service still has externalTrafficPolicy: Cluster, and the rules are all new.",
            state: "preset=aks-blog-nftables&t=0.4s",
            quiz: Some(Quiz {
                question: "What will the app print?",
                choices: &[
                    "::ffff:198.51.100.79, the laptop's address",
                    "a private address from inside the cluster, as in iptables mode",
                    "::ffff:203.0.113.10, the load balancer's address",
                ],
                answer: 1,
                why: "Different rules, the same decisions: kube-proxy's two modes program one policy (docs/fidelity.md#one-answer-for-both-modes). Under Cluster the external- chain marks the packet, masquerading rewrites its source to the node's address, and Node.js prints it IPv4-mapped (docs/fidelity.md#masquerade, #what-the-app-prints).",
                reveal: "preset=aks-blog-nftables&t=30s",
                check: Check::AppPrints(&["::ffff:10.244.0.1", "::ffff:10.240.0."]),
            }),
        },
        Step {
            title: "Predict: Local and the health probes",
            text: "At 90 s the Service is patched to externalTrafficPolicy: Local. In nftables mode node-1, which has no local endpoint, drops new connections through the no-endpoint-services map, where iptables mode used KUBE-EXTERNAL-SERVICES.",
            state: "preset=aks-blog-nftables&t=95s",
            quiz: Some(Quiz {
                question: "Two minutes after the switch, what will Health Probe Status show?",
                choices: &["100 %", "50 %", "0 %"],
                answer: 1,
                why: "The healthCheckNodePort server is not part of the rules: it is kube-proxy's own, the same in both modes, and answers 503 on a node without a ready local endpoint (docs/fidelity.md#kube-proxy-health-servers). One node of two answers 200, so 50 %, exactly as in iptables mode (docs/fidelity.md#health-probe-status).",
                reveal: "preset=aks-blog-nftables&t=230s",
                check: Check::ProbePercent("50%"),
            }),
        },
        Step {
            title: "Predict: a NodePort on 127.0.0.1",
            text: "Here is one difference you can see. A process on node-0 curls the Service's NodePort twice a second: once on 127.0.0.1:30080 and once on the node's own IP. This cluster runs kube-proxy in iptables mode, and both requests are answered.",
            state: "preset=nodeport-localhost&t=6s",
            quiz: Some(Quiz {
                question: "Switch kube-proxy to nftables mode. What happens to curl 127.0.0.1:30080?",
                choices: &[
                    "it is answered, as before",
                    "it is refused: nothing listens on 127.0.0.1:30080",
                    "it is answered, and the app sees 127.0.0.1",
                ],
                answer: 1,
                why: "In nftables mode an unset nodePortAddresses means the node's primary IP only, so no rule takes NodePorts on 127.0.0.1, and the host's TCP stack refuses the connection. The node-IP request is still answered. iptables mode accepts NodePorts on every local address, localhost too, which needs route_localnet, and which kube-proxy is moving away from (docs/fidelity.md#nftables-nodeports). Look for the rejected rows in the event log.",
                reveal: "preset=nodeport-localhost&mode=nftables&t=6s",
                check: Check::Refused("curl-localhost"),
            }),
        },
        Step {
            title: "Recap",
            text: "nftables mode gives the same answers as iptables mode, with verdict maps and numgen in place of chains of rules: a node-side address under Cluster, the client under Local, Health Probe Status at the share of nodes with a pod. Two things differ: NodePorts are not served on 127.0.0.1, and a new connection to an unallocated ClusterIP inside the service CIDR is dropped (docs/fidelity.md#one-answer-for-both-modes).\n\nThis is the whole story in nftables mode: the Service is patched to Local at 90 s. Try the kube-proxy mode control on any other scenario.",
            state: "preset=aks-blog-nftables&t=0s",
            quiz: None,
        },
    ],
};

const DSR: Lesson = Lesson {
    id: "dsr",
    title: "Keep the client IP without Local: Cilium's DSR",
    steps: &[
        Step {
            title: "Cilium instead of kube-proxy",
            text: "This is the AKS cluster of the first lesson on Azure CNI Powered by Cilium: there is no kube-proxy. Each node's proxy stage says cilium eBPF snat: Cilium's load balancer runs as eBPF programs on the node's device, in its default SNAT mode (docs/fidelity.md#cilium).\n\nClick a packet at a node: nodeport_lb4 finds the load balancer's address in the cilium_lb4_services_v2 map, and lb4_local picks the backend (docs/fidelity.md#cilium-north-south).",
            state: "preset=aks-cilium&t=6s",
            quiz: None,
        },
        Step {
            title: "Predict: the pod's own node, under Cluster",
            text: "The Service has externalTrafficPolicy: Cluster, and the load balancer is about to send the first request to node-0, the node the pod runs on. With kube-proxy the app would print a node-side address.",
            state: "preset=aks-cilium&t=0.4s",
            quiz: Some(Quiz {
                question: "What will the app print?",
                choices: &[
                    "a node-side address, as with kube-proxy under Cluster",
                    "::ffff:198.51.100.79, the laptop's address",
                    "::ffff:203.0.113.10, the load balancer's address",
                ],
                answer: 1,
                why: "Cilium SNATs only toward a backend on another node: a backend on the balancing node gets the packet DNATed and nothing more, so the pod sees the client even under Cluster (nodeport_svc_lb4; docs/fidelity.md#cilium-north-south). kube-proxy masquerades every external packet under Cluster, wherever the endpoint is.",
                reveal: "preset=aks-cilium&t=3.2s",
                check: Check::AppPrints(&["::ffff:198.51.100.79"]),
            }),
        },
        Step {
            title: "Predict: through the other node",
            text: "The next request goes to node-1, which has no pod: Cilium picks the backend on node-0 and must get the packet there and the reply back.",
            state: "preset=aks-cilium&t=1.4s",
            quiz: Some(Quiz {
                question: "What will the app print this time?",
                choices: &[
                    "::ffff:198.51.100.79, the laptop's address",
                    "::ffff:10.240.0.5, node-1's address",
                    "::ffff:10.244.1.1, node-1's bridge",
                ],
                answer: 1,
                why: "In SNAT mode (the default) tail_nodeport_nat_egress_ipv4 rewrites the source to the node's own address so that the reply comes back through node-1, which undoes both translations (docs/fidelity.md#cilium-north-south). Open the inspector on this request: its reply goes pod → node-0 → node-1 → laptop.",
                reveal: "preset=aks-cilium&t=4.2s",
                check: Check::AppPrints(&["::ffff:10.240.0.5"]),
            }),
        },
        Step {
            title: "Predict: DSR",
            text: "Now the same cluster with Cilium's loadBalancer.mode: dsr (direct server return). node-1 still balances the request to the pod on node-0.",
            state: "preset=aks-cilium-dsr&t=1.4s",
            quiz: Some(Quiz {
                question: "What will the app print, and which way does the reply go?",
                choices: &[
                    "node-1's address; back through node-1, as in SNAT mode",
                    "the laptop's address; straight from node-0 to the laptop, from 203.0.113.10:80",
                    "the laptop's address; back through node-1, which forwards it",
                ],
                answer: 1,
                why: "In DSR mode node-1 DNATs the request but keeps the client's source, and puts the service address 203.0.113.10:80 in an IPv4 option (0x9a). node-0 reads the option and remembers to answer from the service address, so the pod sees the laptop and the reply leaves node-0 straight for the laptop: it never passes node-1 (docs/fidelity.md#cilium-dsr). Click the reply square to see its path.",
                reveal: "preset=aks-cilium-dsr&t=4.2s",
                check: Check::ReplyPath(&["node-0", "laptop"]),
            }),
        },
        Step {
            title: "Predict: the health probes",
            text: "Under Local, the nodes without a pod fail their health probe and leave rotation: that is how Local keeps the client IP. DSR keeps it under Cluster.",
            state: "preset=aks-cilium-dsr&t=50s",
            quiz: Some(Quiz {
                question: "What does Health Probe Status show under DSR?",
                choices: &["100 %", "50 %", "0 %"],
                answer: 0,
                why: "Under Cluster, Azure probes the NodePort over TCP, and Cilium answers it on every node by balancing the probe to a backend (docs/fidelity.md#cilium-health). Both nodes stay in rotation: traffic is spread over all nodes and every pod still sees the client.",
                reveal: "preset=aks-cilium-dsr&t=130s",
                check: Check::ProbePercent("100%"),
            }),
        },
        Step {
            title: "What it costs",
            text: "DSR is not free. node-0 answers the laptop directly, so it needs a route to the client and nothing on the way may drop a reply from a node that never saw the request. Cloud fabrics may drop the unknown IP option (Geneve dispatch carries the address in a tunnel option instead), AWS needs source/destination checks off, and the option (or the tunnel) takes bytes from every SYN's MTU. Hybrid mode uses DSR for TCP only and SNAT for UDP (docs/fidelity.md#cilium-dsr).\n\nHere are both modes side by side on the same traffic: Compare SNAT | DSR in the header shows them for any Cilium scenario, with the reply's path in the table.",
            state: "preset=aks-cilium&compare=dsr&t=30s",
            quiz: None,
        },
    ],
};
