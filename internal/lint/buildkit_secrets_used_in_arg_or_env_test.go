package lint

import (
	"regexp"
	"testing"
)

// TestHasToken checks hasToken against the patterns it replaces.
func TestHasToken(t *testing.T) {
	deny := regexp.MustCompile(`(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)`)
	allow := regexp.MustCompile(`(?i)(?:_|^)(?:public|file|version)(?:_|$)`)
	for _, key := range []string{
		"", "_", "__", "KEY", "key", "Key_", "_KEY", "A_KEY_B", "KEYS", "MONKEY", "MY__TOKEN", "GITHUB_TOKEN",
		"GITHUB_TOKEN_FILE", "PUBLIC_KEY", "AWS_SECRET_ACCESS_KEY", "PASSWORD", "pword", "AUTHOR", "OAUTH",
		"API_KEY_VERSION", "CREDENTIALS", "credential_x", "ſecret", "\u212aEY", "TOKEN_", "A_B_C", "FILE",
	} {
		tokens := []string{"public", "file", "version"}
		if got, want := hasToken(key, secretTokens()), deny.MatchString(key); got != want {
			t.Errorf("hasToken(%q, secretTokens()) = %v, want %v", key, got, want)
		}
		if got, want := hasToken(key, tokens), allow.MatchString(key); got != want {
			t.Errorf("hasToken(%q, %q) = %v, want %v", key, tokens, got, want)
		}
	}
}
