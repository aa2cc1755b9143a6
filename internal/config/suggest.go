package config

import (
	"strings"
	"unicode/utf8"
)

// suggest returns the candidate closest to word by edit distance, ignoring
// case, or "" when none is close enough to be a likely typo. Ties go to the
// earliest candidate, so callers pass candidates in a stable order.
func suggest(word string, candidates []string) string {
	if word == "" || utf8.RuneCountInString(word) > 64 {
		return ""
	}
	w := strings.ToLower(word)
	best, bestD := "", -1
	for _, c := range candidates {
		if c == word || len(c) > 256 {
			continue
		}
		d := editDistance(w, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	// One edit per three letters, at least one: "rulee" finds "rule" and
	// "algoritm" finds "algorithm", but "ftp" does not find "http".
	if bestD < 0 || bestD > max(1, utf8.RuneCountInString(word)/3) {
		return ""
	}
	return best
}

// didYouMean formats a suggestion as a sentence tail, or "".
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return `; did you mean "` + s + `"?`
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b, in
// runes: Levenshtein plus the swap of two neighbours, the commonest typo.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
