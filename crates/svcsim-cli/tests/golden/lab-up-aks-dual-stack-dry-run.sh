#!/bin/sh -e
# svcsim lab up scenarios/aks-dual-stack.yaml --at 0ms
ip netns add svcsim-vnet
ip netns add svcsim-client
ip netns add svcsim-node-0
ip netns add svcsim-node-1
ip netns add svcsim-pod-node-deployment-p9sfq9jkfn-6wnqr
ip -n svcsim-vnet link set lo up
ip -n svcsim-client link set lo up
ip -n svcsim-node-0 link set lo up
ip -n svcsim-node-1 link set lo up
ip -n svcsim-pod-node-deployment-p9sfq9jkfn-6wnqr link set lo up
ip netns exec svcsim-vnet sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip netns exec svcsim-client sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip netns exec svcsim-node-0 sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip netns exec svcsim-node-1 sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip netns exec svcsim-pod-node-deployment-p9sfq9jkfn-6wnqr sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip -n svcsim-vnet link add br0 type bridge
ip -n svcsim-vnet link set br0 up
ip -n svcsim-client link add eth0 type veth peer name client netns svcsim-vnet
ip -n svcsim-vnet link set client master br0 up
ip -n svcsim-client addr add 10.240.0.1/24 dev eth0
ip -n svcsim-client addr add 2001:1234:5678:9abc::1/64 dev eth0 nodad
ip -n svcsim-client addr add fe80::1234:5678:9abc/64 dev eth0 nodad
ip -n svcsim-client link set eth0 up
ip -n svcsim-client addr add 198.51.100.79/32 dev lo
ip -n svcsim-client route replace 10.240.0.0/24 dev eth0 src 198.51.100.79
ip netns exec svcsim-client sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.fib_multipath_hash_policy=1
ip netns exec svcsim-client sysctl -q -w net.ipv6.fib_multipath_hash_policy=1
ip -n svcsim-client route add 203.0.113.10/32 src 198.51.100.79 nexthop via 10.240.0.4 nexthop via 10.240.0.5
ip -n svcsim-client -6 route add 2001:db8:113::10/128 via 2001:1234:5678:9abc::5
ip -n svcsim-vnet link add n0 type veth peer name eth0 netns svcsim-node-0
ip -n svcsim-vnet link set n0 master br0 up
ip -n svcsim-node-0 addr add 10.240.0.4/24 dev eth0
ip -n svcsim-node-0 addr add 2001:1234:5678:9abc::4/64 dev eth0 nodad
ip -n svcsim-node-0 link set eth0 up
ip -n svcsim-node-0 route add default via 10.240.0.1
ip -n svcsim-node-0 -6 route add default via 2001:1234:5678:9abc::1
ip -n svcsim-node-0 link add cbr0 type bridge
ip -n svcsim-node-0 addr add 10.244.0.1/24 dev cbr0
ip -n svcsim-node-0 addr add fd12:3456:789a::1/80 dev cbr0 nodad
ip -n svcsim-node-0 link set cbr0 up
ip -n svcsim-node-0 route add 10.244.1.0/24 via 10.240.0.5
ip -n svcsim-node-0 -6 route add fd12:3456:789a:0:1::/80 via 2001:1234:5678:9abc::5
ip netns exec svcsim-node-0 sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.route_localnet=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.icmp_ratelimit=0
ip netns exec svcsim-node-0 sysctl -q -w net.ipv6.conf.all.forwarding=1 net.bridge.bridge-nf-call-ip6tables=1 net.ipv6.icmp.ratelimit=0
ip netns exec svcsim-node-0 nfacct add ct_state_invalid_dropped_pkts
ip netns exec svcsim-node-0 nfacct add localhost_nps_accepted_pkts
ip netns exec svcsim-node-0 iptables-restore <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-IXNP3UPK7A3TOQ6U - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-7FZMHNWKZJJYAHLJ - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-IXNP3UPK7A3TOQ6U - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-EXT-IXNP3UPK7A3TOQ6U -m comment --comment "masquerade traffic for default/node-service external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-IXNP3UPK7A3TOQ6U -j KUBE-SVC-IXNP3UPK7A3TOQ6U
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -d 127.0.0.0/8 -p tcp -m comment --comment "default/node-service" -m tcp --dport 32547 -m nfacct --nfacct-name  localhost_nps_accepted_pkts -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/node-service" -m tcp --dport 32547 -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-7FZMHNWKZJJYAHLJ -s 10.244.0.2/32 -m comment --comment "default/node-service" -j KUBE-MARK-MASQ
-A KUBE-SEP-7FZMHNWKZJJYAHLJ -p tcp -m comment --comment "default/node-service" -m tcp -j DNAT --to-destination 10.244.0.2:8080
-A KUBE-SERVICES -d 10.0.223.151/32 -p tcp -m comment --comment "default/node-service cluster IP" -m tcp --dport 80 -j KUBE-SVC-IXNP3UPK7A3TOQ6U
-A KUBE-SERVICES -d 203.0.113.10/32 -p tcp -m comment --comment "default/node-service loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-IXNP3UPK7A3TOQ6U ! -s 10.244.0.0/16 -d 10.0.223.151/32 -p tcp -m comment --comment "default/node-service cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-IXNP3UPK7A3TOQ6U -m comment --comment "default/node-service -> 10.244.0.2:8080" -j KUBE-SEP-7FZMHNWKZJJYAHLJ
COMMIT
EOF
ip netns exec svcsim-node-0 ip6tables-restore <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-IXNP3UPK7A3TOQ6U - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-3MMVCCIY3OHEFO7V - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-IXNP3UPK7A3TOQ6U - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-EXT-IXNP3UPK7A3TOQ6U -m comment --comment "masquerade traffic for default/node-service external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-IXNP3UPK7A3TOQ6U -j KUBE-SVC-IXNP3UPK7A3TOQ6U
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/node-service" -m tcp --dport 32547 -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-3MMVCCIY3OHEFO7V -s fd12:3456:789a::2/128 -m comment --comment "default/node-service" -j KUBE-MARK-MASQ
-A KUBE-SEP-3MMVCCIY3OHEFO7V -p tcp -m comment --comment "default/node-service" -m tcp -j DNAT --to-destination [fd12:3456:789a::2]:8080
-A KUBE-SERVICES -d fd12:3456:789a:1::4:520e/128 -p tcp -m comment --comment "default/node-service cluster IP" -m tcp --dport 80 -j KUBE-SVC-IXNP3UPK7A3TOQ6U
-A KUBE-SERVICES -d 2001:db8:113::10/128 -p tcp -m comment --comment "default/node-service loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-SERVICES ! -d ::1/128 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-IXNP3UPK7A3TOQ6U ! -s fd12:3456:789a::/64 -d fd12:3456:789a:1::4:520e/128 -p tcp -m comment --comment "default/node-service cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-IXNP3UPK7A3TOQ6U -m comment --comment "default/node-service -> [fd12:3456:789a::2]:8080" -j KUBE-SEP-3MMVCCIY3OHEFO7V
COMMIT
EOF
ip -n svcsim-vnet link add n1 type veth peer name eth0 netns svcsim-node-1
ip -n svcsim-vnet link set n1 master br0 up
ip -n svcsim-node-1 addr add 10.240.0.5/24 dev eth0
ip -n svcsim-node-1 addr add 2001:1234:5678:9abc::5/64 dev eth0 nodad
ip -n svcsim-node-1 link set eth0 up
ip -n svcsim-node-1 route add default via 10.240.0.1
ip -n svcsim-node-1 -6 route add default via 2001:1234:5678:9abc::1
ip -n svcsim-node-1 link add cbr0 type bridge
ip -n svcsim-node-1 addr add 10.244.1.1/24 dev cbr0
ip -n svcsim-node-1 addr add fd12:3456:789a:0:1::1/80 dev cbr0 nodad
ip -n svcsim-node-1 link set cbr0 up
ip -n svcsim-node-1 route add 10.244.0.0/24 via 10.240.0.4
ip -n svcsim-node-1 -6 route add fd12:3456:789a::/80 via 2001:1234:5678:9abc::4
ip netns exec svcsim-node-1 sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.route_localnet=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.icmp_ratelimit=0
ip netns exec svcsim-node-1 sysctl -q -w net.ipv6.conf.all.forwarding=1 net.bridge.bridge-nf-call-ip6tables=1 net.ipv6.icmp.ratelimit=0
ip netns exec svcsim-node-1 nfacct add ct_state_invalid_dropped_pkts
ip netns exec svcsim-node-1 nfacct add localhost_nps_accepted_pkts
ip netns exec svcsim-node-1 iptables-restore <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-IXNP3UPK7A3TOQ6U - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-7FZMHNWKZJJYAHLJ - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-IXNP3UPK7A3TOQ6U - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-EXT-IXNP3UPK7A3TOQ6U -m comment --comment "masquerade traffic for default/node-service external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-IXNP3UPK7A3TOQ6U -j KUBE-SVC-IXNP3UPK7A3TOQ6U
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -d 127.0.0.0/8 -p tcp -m comment --comment "default/node-service" -m tcp --dport 32547 -m nfacct --nfacct-name  localhost_nps_accepted_pkts -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/node-service" -m tcp --dport 32547 -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-7FZMHNWKZJJYAHLJ -s 10.244.0.2/32 -m comment --comment "default/node-service" -j KUBE-MARK-MASQ
-A KUBE-SEP-7FZMHNWKZJJYAHLJ -p tcp -m comment --comment "default/node-service" -m tcp -j DNAT --to-destination 10.244.0.2:8080
-A KUBE-SERVICES -d 10.0.223.151/32 -p tcp -m comment --comment "default/node-service cluster IP" -m tcp --dport 80 -j KUBE-SVC-IXNP3UPK7A3TOQ6U
-A KUBE-SERVICES -d 203.0.113.10/32 -p tcp -m comment --comment "default/node-service loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-IXNP3UPK7A3TOQ6U ! -s 10.244.0.0/16 -d 10.0.223.151/32 -p tcp -m comment --comment "default/node-service cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-IXNP3UPK7A3TOQ6U -m comment --comment "default/node-service -> 10.244.0.2:8080" -j KUBE-SEP-7FZMHNWKZJJYAHLJ
COMMIT
EOF
ip netns exec svcsim-node-1 ip6tables-restore <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-IXNP3UPK7A3TOQ6U - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-3MMVCCIY3OHEFO7V - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-IXNP3UPK7A3TOQ6U - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-EXT-IXNP3UPK7A3TOQ6U -m comment --comment "masquerade traffic for default/node-service external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-IXNP3UPK7A3TOQ6U -j KUBE-SVC-IXNP3UPK7A3TOQ6U
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/node-service" -m tcp --dport 32547 -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-3MMVCCIY3OHEFO7V -s fd12:3456:789a::2/128 -m comment --comment "default/node-service" -j KUBE-MARK-MASQ
-A KUBE-SEP-3MMVCCIY3OHEFO7V -p tcp -m comment --comment "default/node-service" -m tcp -j DNAT --to-destination [fd12:3456:789a::2]:8080
-A KUBE-SERVICES -d fd12:3456:789a:1::4:520e/128 -p tcp -m comment --comment "default/node-service cluster IP" -m tcp --dport 80 -j KUBE-SVC-IXNP3UPK7A3TOQ6U
-A KUBE-SERVICES -d 2001:db8:113::10/128 -p tcp -m comment --comment "default/node-service loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-IXNP3UPK7A3TOQ6U
-A KUBE-SERVICES ! -d ::1/128 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-IXNP3UPK7A3TOQ6U ! -s fd12:3456:789a::/64 -d fd12:3456:789a:1::4:520e/128 -p tcp -m comment --comment "default/node-service cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-IXNP3UPK7A3TOQ6U -m comment --comment "default/node-service -> [fd12:3456:789a::2]:8080" -j KUBE-SEP-3MMVCCIY3OHEFO7V
COMMIT
EOF
ip -n svcsim-node-0 link add vp0 type veth peer name eth0 netns svcsim-pod-node-deployment-p9sfq9jkfn-6wnqr
ip -n svcsim-node-0 link set vp0 master cbr0
ip -n svcsim-node-0 link set vp0 type bridge_slave hairpin on
ip -n svcsim-node-0 link set vp0 up
ip -n svcsim-pod-node-deployment-p9sfq9jkfn-6wnqr addr add 10.244.0.2/24 dev eth0
ip -n svcsim-pod-node-deployment-p9sfq9jkfn-6wnqr addr add fd12:3456:789a::2/80 dev eth0 nodad
ip -n svcsim-pod-node-deployment-p9sfq9jkfn-6wnqr link set eth0 up
ip -n svcsim-pod-node-deployment-p9sfq9jkfn-6wnqr route add default via 10.244.0.1
ip -n svcsim-pod-node-deployment-p9sfq9jkfn-6wnqr -6 route add default via fd12:3456:789a::1
