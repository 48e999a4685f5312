#!/bin/sh
# man.sh - the man pages, made at build time from the usage texts (so they
# never disagree with --help): interp.1 from `interp --help` and, as git
# names its pages, interp-COMMAND.1 from `interp COMMAND --help`, with the
# command's one-line help from the command table as its NAME.
#
# usage: scripts/man.sh INTERP OUTDIR COMMAND...
#   COMMAND... the commands the Makefile installs pages for (one per
#   cli/cmd_*.c); it is an error when `interp --help` lists others.
#
# A usage text becomes roff this way: its first paragraph ("usage: ...") is
# the SYNOPSIS, the rest the DESCRIPTION; a blank line starts a paragraph, an
# indented line (an option list, a table of files) is kept as it is (.nf),
# other lines are filled; \ and - are escaped, a line starting with . or '
# is protected. EXIT STATUS and SEE ALSO are added.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 INTERP OUTDIR COMMAND..." >&2; exit 2; }
I=$1
OUT=$2
shift 2
mkdir -p "$OUT"
version=$("$I" --version | sed 's/^interp //')
help=$("$I" --help)
listed=$(printf '%s\n' "$help" | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' | sort)
wanted=$(printf '%s\n' "$@" | sort)
if [ "$listed" != "$wanted" ]; then
    echo "man.sh: interp --help lists: $(echo $listed); the Makefile expects: $(echo $wanted)" >&2
    exit 1
fi

# render NAME TITLE ONELINE SEEALSO < usage text > roff
render() {
    awk -v name="$1" -v title="$2" -v oneline="$3" -v seealso="$4" -v version="$version" '
    function esc(s) {
        gsub(/\\/, "\\e", s)
        gsub(/-/, "\\-", s)
        if (s ~ /^[.\047]/) s = "\\&" s
        return s
    }
    BEGIN {
        printf ".TH \"%s\" 1 \"\" \"interp %s\" \"interp manual\"\n", title, version
        print ".nh"   # no hyphenation: names and options stay whole
        print ".ad l" # ragged right
        print ".SH NAME"
        print esc(name) " \\- " esc(oneline)
        print ".SH SYNOPSIS"
        print ".nf"
        state = "synopsis"
    }
    state == "synopsis" {
        if ($0 == "") {
            print ".fi"
            print ".SH DESCRIPTION"
            state = "body"
            para = 0
            next
        }
        line = $0
        sub(/^usage: /, "", line)
        print esc(line)
        next
    }
    $0 == "" {
        if (lit) { print ".fi"; lit = 0 }
        para = 1
        next
    }
    /^[ \t]/ {
        if (!lit) {
            if (para) print ".PP"
            para = 0
            print ".nf"
            lit = 1
        }
        print esc($0)
        next
    }
    {
        if (lit) { print ".fi"; lit = 0 }
        if (para) { print ".PP"; para = 0 }
        print esc($0)
    }
    END {
        if (state == "synopsis") print ".fi"
        if (lit) print ".fi"
        print ".SH EXIT STATUS"
        print "0 when done, 2 for bad usage or bad input (one line on standard error:"
        print ".IR \"interp: PATH: what is wrong\" ),"
        print "1 for any other failure."
        print ".SH SEE ALSO"
        print seealso
    }'
}

# The main page: NAME from its first line of description.
oneline=$(printf '%s\n' "$help" | awk 'seen && NF { sub(/\.$/, ""); print tolower(substr($0, 1, 1)) substr($0, 2); exit } /^$/ { seen = 1 }')
see=""
for c in $wanted; do
    see="$see${see:+,
}.BR interp\\-$c (1)"
done
printf '%s\n' "$help" | render interp INTERP "$oneline" "$see" >"$OUT/interp.1"

for c in $wanted; do
    one=$(printf '%s\n' "$help" | awk -v c="$c" '/^Commands:/ { on = 1; next } on && $1 == c { $1 = ""; sub(/^ +/, ""); print; exit }')
    up=$(echo "interp-$c" | tr a-z A-Z)
    "$I" "$c" --help | render "interp-$c" "$up" "$one" ".BR interp (1)" >"$OUT/interp-$c.1"
done
