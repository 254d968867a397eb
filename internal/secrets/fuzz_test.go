package secrets

import (
	"testing"
)

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("title = \"x\"\n[[rules]]\nid = \"a\"\nregex = '''ab(c+)'''\nsecretGroup = 1\nkeywords = [\"ab\"]\n"))
	f.Add([]byte("[extend]\nuseDefault = true\ndisabledRules = [\"x\"]\n[[allowlists]]\ntargetRules = [\"a\"]\nregexes = ['''x''']\n"))
	f.Add([]byte("[[rules]]\nid = \"p\"\npath = '''\\.pem$'''\n[[rules.allowlists]]\ncondition = \"AND\"\nregexTarget = \"line\"\nstopwords = [\"test\"]\npaths = ['''a''']\n"))
	f.Add([]byte("[allowlist]\ncommits = [\"abc\"]\n"))
	f.Add([]byte("[[rules]]\nid = \"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "")
		if err != nil {
			return
		}
		d := NewDetector(c)
		d.Scan(Fragment{Data: []byte("abccc key = 0123456789abcdef token"), Path: "a.pem"})
	})
}

func FuzzDetect(f *testing.F) {
	f.Add([]byte("password = \"hunter2hunter2X9\"\nQUtJQUlPU0ZPRE5ON0VYQU1QTEU=\n%41%4B%49%41"))
	f.Add([]byte("PK\x03\x04garbage"))
	f.Add([]byte("\x1f\x8b\x08\x00junk"))
	d := NewDetector(mustDefaultish(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fd := range d.ScanFile("x.txt", data, "") {
			if fd.StartLine < 1 || fd.Fingerprint == "" {
				t.Fatalf("bad finding %+v", fd)
			}
		}
	})
}

func mustDefaultish(f *testing.F) *Config {
	c, err := ParseConfig([]byte(`
[[rules]]
id = "generic-password"
regex = '''(?i)password\s*=\s*"([^"]{8,})"'''
keywords = ["password"]
[[rules]]
id = "aws"
regex = '''AKIA[A-Z0-9]{16}'''
keywords = ["akia"]
`), "")
	if err != nil {
		f.Fatal(err)
	}
	return c
}
