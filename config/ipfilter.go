package config

import (
	"fmt"
	"net/netip"
	"strings"
)

const ipfilterHint = "use pattern=allow|deny[,...], e.g. 10.0.*=allow,*=deny"

// IPRule is one WOPIBRIDGE_IPFILTER rule. Pattern is an IP address, a CIDR prefix, or
// an address with * wildcards ("*" matches every address).
type IPRule struct {
	Pattern string
	Allow   bool
}

// IPFilter is an ordered list of rules: the first rule that matches decides. An empty
// filter allows every address; otherwise an address no rule matches is denied.
type IPFilter []IPRule

// ParseIPFilter parses a WOPIBRIDGE_IPFILTER value: comma-separated
// pattern=allow|deny rules. An empty value is an empty filter.
func ParseIPFilter(spec string) (IPFilter, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var f IPFilter
	for i, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		pattern, action, ok := cutLast(item, "=")
		if !ok {
			return nil, fmt.Errorf("rule %d %q has no =allow or =deny (%s)", i+1, item, ipfilterHint)
		}
		r := IPRule{Pattern: strings.ToLower(strings.TrimSpace(pattern))}
		switch strings.ToLower(strings.TrimSpace(action)) {
		case "allow":
			r.Allow = true
		case "deny":
		default:
			return nil, fmt.Errorf("rule %d %q: action %q is neither allow nor deny (%s)", i+1, item, action, ipfilterHint)
		}
		if err := checkPattern(r.Pattern); err != nil {
			return nil, fmt.Errorf("rule %d %q: %v (%s)", i+1, item, err, ipfilterHint)
		}
		if a, err := netip.ParseAddr(r.Pattern); err == nil {
			r.Pattern = a.Unmap().String()
		} else if p, err := netip.ParsePrefix(r.Pattern); err == nil {
			r.Pattern = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked().String()
		}
		f = append(f, r)
	}
	return f, nil
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 prefix loses as IPv4.
func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return 96
	}
	return 0
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// checkPattern accepts an address, a CIDR prefix, or hex digits, dots and colons with
// * wildcards.
func checkPattern(p string) error {
	if p == "" {
		return fmt.Errorf("empty pattern")
	}
	if strings.Contains(p, "/") {
		pr, err := netip.ParsePrefix(p)
		if err != nil || pr.Addr().Zone() != "" || (pr.Addr().Is4In6() && pr.Bits() < 96) {
			return fmt.Errorf("pattern %q is not a CIDR prefix such as 10.0.0.0/8", p)
		}
		return nil
	}
	for _, r := range p {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '.' || r == ':' || r == '*') {
			return fmt.Errorf("pattern %q may only hold an IP address, a CIDR prefix, or * wildcards", p)
		}
	}
	return nil
}

// String is the filter spec that ParseIPFilter reads back to the same rules.
func (f IPFilter) String() string {
	parts := make([]string, len(f))
	for i, r := range f {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// String is the rule as pattern=allow or pattern=deny.
func (r IPRule) String() string {
	if r.Allow {
		return r.Pattern + "=allow"
	}
	return r.Pattern + "=deny"
}

// Match reports whether the rule's pattern matches addr.
func (r IPRule) Match(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	if strings.Contains(r.Pattern, "/") {
		p, err := netip.ParsePrefix(r.Pattern)
		return err == nil && p.Contains(addr)
	}
	return matchWildcard(r.Pattern, addr.String())
}

// Allow reports whether the filter lets addr through.
func (f IPFilter) Allow(addr netip.Addr) bool {
	if len(f) == 0 {
		return true
	}
	for _, r := range f {
		if r.Match(addr) {
			return r.Allow
		}
	}
	return false
}

// matchWildcard matches s against pattern, where * stands for any run of characters.
func matchWildcard(pattern, s string) bool {
	// Greedy match with backtracking to the last star: linear in practice.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
