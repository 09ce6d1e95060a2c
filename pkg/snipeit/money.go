package snipeit

import (
	"fmt"
	"strconv"
	"strings"
)

// parseCost turns Snipe-IT's locale-formatted money ("1,299.00",
// "1.299,00", "1 299,00", "1299") into a plain decimal ("1299.00"). The
// last '.' or ',' followed by one or two digits at the end is the decimal
// separator; every other separator groups thousands.
func parseCost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac := s, ""
	if i := strings.LastIndexAny(s, ".,"); i >= 0 && len(s)-i-1 >= 1 && len(s)-i-1 <= 2 {
		intPart, frac = s[:i], s[i+1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	digits := 0
	for _, r := range intPart {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case r == ',' || r == '.' || r == ' ' || r == '\'' || r == '\u00a0' || r == '\u202f':
		default:
			return "", fmt.Errorf("purchase_cost %q is not a number", s)
		}
	}
	for _, r := range frac {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("purchase_cost %q is not a number", s)
		}
	}
	if digits == 0 {
		b.WriteByte('0')
	}
	if digits > 18 {
		return "", fmt.Errorf("purchase_cost %q is too large", s)
	}
	b.WriteByte('.')
	b.WriteString((frac + "00")[:2])
	return b.String(), nil
}

// parseMonths reads the leading integer of a localised "36 months".
func parseMonths(s string) *int32 {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return nil
	}
	n, err := strconv.ParseInt(s[:end], 10, 32)
	if err != nil {
		return nil
	}
	m := int32(n)
	return &m
}
