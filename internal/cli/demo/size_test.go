package demo

import "testing"

func TestParseMiB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
		err  bool
	}{
		{"64", 64, false}, {"64MiB", 64, false}, {"1GiB", 1024, false}, {"1.5GiB", 1536, false},
		{"2gi", 2048, false}, {"8M", 8, false}, {"0", 0, false},
		{"-1", 0, true}, {"1TB", 0, true}, {"", 0, true}, {"GiB", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseMiB(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseMiB(%q) = %d, %v; want %d (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}
