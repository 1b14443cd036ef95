// Answers relabel regex questions with Go's regexp, for ../go_regexp.golden (see cases.py).
// Reads JSON lines {"p","h","t"} on stdin, writes JSON lines {"err","m","x"} on stdout.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

type R struct {
	Err bool    `json:"err"`
	M   bool    `json:"m"`
	X   *string `json:"x"`
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for sc.Scan() {
		var c struct {
			P string `json:"p"`
			H string `json:"h"`
			T string `json:"t"`
		}
		json.Unmarshal(sc.Bytes(), &c)
		var r R
		re, err := regexp.Compile("^(?:" + c.P + ")$")
		if err != nil {
			r.Err = true
		} else {
			idx := re.FindStringSubmatchIndex(c.H)
			r.M = re.MatchString(c.H)
			if idx != nil {
				s := string(re.ExpandString(nil, c.T, c.H, idx))
				r.X = &s
			}
		}
		b, _ := json.Marshal(r)
		fmt.Fprintln(w, string(b))
	}
}
