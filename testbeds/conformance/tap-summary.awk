# Counts the TAP printed by one runtime-tools validation program.
#
# Prints one tab-separated line:
#   ok  not_ok  skip  todo  points  plan_error  reason
# where plan_error is "-" or "planned N, ran M" and reason is the first
# failure's description (with the error from its YAML block, if any), then one
# line per test point and per failure that is not a test point:
#   pt    N  ok|notok|skip|todo  description [error]   (N: the point's ordinal in the
#                                output; error: a failed point's YAML "error:", if any)
#   prog  -  error|bail          text          (an orphan "error:" block, "Bail out!")
# (run.sh --check matches these against expectations.txt).
# A program may print several TAP streams (each from "TAP version 13"); the
# plan is checked per stream.
#
# Rules beyond plain TAP, needed for this suite:
# - YAML blocks are indented ("  ---" ... "  ..."); their content is never
#   counted, even when it embeds runtimetest's own TAP ("not ok ...").
# - Some programs (prestart_fail, hooks, poststart, state, ...) report a
#   failure only as a YAML block with an "error:" key that is not attached to a
#   test point (no test point before it, or the previous test point already
#   had its block). Such an orphan error block counts as one failed point.
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function note(r) {
	if (reason == "") {
		gsub(/[\t\r]/, " ", r)
		sub(/ Refer to: http[^ ]*/, "", r)
		gsub(/time="[^"]*" level=[a-z]* msg=/, "", r)
		reason = substr(trim(r), 1, 200)
	}
}
function clean(s) { gsub(/[\t\r]/, " ", s); return substr(trim(s), 1, 200) }
function extra(l) { lines[++nlines] = l }
function endstream() {
	if (plan >= 0 && plan != spoints && planerr == "-")
		planerr = "planned " plan " test points, ran " spoints
	plan = -1; spoints = 0
}
BEGIN { nlines = 0; ok = 0; notok = 0; skip = 0; todo = 0; plan = -1; points = 0; spoints = 0; planerr = "-"
	inyaml = 0; attachable = 0; pending = 0; reason = "" }
inyaml {
	if ($0 ~ /^  \.\.\.[ \t]*$/) {
		inyaml = 0
		yamlerr = yv["error"]
		# "exit status 1" says little: add what the runtime printed.
		if (yamlerr ~ /^exit status/ && yv["stderr"] != "") yamlerr = yamlerr ": " yv["stderr"]
		if (!yamlattached && yamlerr != "") { notok++; note("(no test point) " yamlerr); extra("prog\t-\terror\t" clean(yamlerr)) }
		if (pending) {
			if (yamlerr != "") { note(pendingdesc ": " yamlerr); lines[pendidx] = lines[pendidx] "\t" clean(yamlerr) }
			else note(pendingdesc)
		}
		pending = 0
		next
	}
	# A top-level key of the block has exactly two spaces of indent.
	if (grab != "" && $0 ~ /^  [^ ]/) grab = ""
	if (grab != "") {
		v = trim($0)
		if (v != "" && length(yv[grab]) < 200) yv[grab] = (yv[grab] == "" ? v : yv[grab] " " v)
		next
	}
	if ($0 ~ /^  (error|stderr):/) {
		k = $0; sub(/^  /, "", k); sub(/:.*/, "", k)
		v = $0; sub(/^  [a-z]+:[ \t]*/, "", v)
		if (v ~ /^[|>]/) grab = k
		else {
			if (v ~ /^'.*'$/ || v ~ /^".*"$/) v = substr(v, 2, length(v) - 2)
			yv[k] = v
		}
	}
	next
}
/^  ---[ \t]*$/ {
	inyaml = 1; yv["error"] = ""; yv["stderr"] = ""; grab = ""
	yamlattached = attachable; attachable = 0
	next
}
/^(not )?ok([ \t]|$)/ {
	if (pending) { note(pendingdesc); pending = 0 }
	points++; spoints++
	line = $0
	isnot = (line ~ /^not /)
	directive = ""
	if (match(line, /[^\\]#[ \t]*([Ss][Kk][Ii][Pp]|[Tt][Oo][Dd][Oo])/)) {
		d = toupper(substr(line, RSTART + 1, RLENGTH - 1)); gsub(/[# \t]/, "", d); directive = d
	}
	desc = line
	sub(/^(not )?ok[ \t]*[0-9]*[ \t]*(-[ \t]*)?/, "", desc)
	pdesc = desc
	sub(/[ \t]*#[ \t]*([Ss][Kk][Ii][Pp]|[Tt][Oo][Dd][Oo]).*$/, "", pdesc)
	if (directive == "SKIP") { skip++; st = "skip" }
	else if (directive == "TODO") { todo++; st = "todo" }
	else if (isnot) { notok++; pending = 1; pendingdesc = desc; st = "notok" }
	else { ok++; st = "ok" }
	extra("pt\t" points "\t" st "\t" clean(pdesc))
	pendidx = nlines
	attachable = 1
	next
}
/^TAP version/ { if (NR > 1) endstream(); next }
/^1\.\.[0-9]+/ { p = $0; sub(/^1\.\./, "", p); plan = p + 0; next }
/^Bail out!/ { notok++; note($0); extra("prog\t-\tbail\t" clean($0)); next }
END {
	if (pending) note(pendingdesc)
	endstream()
	printf "%d\t%d\t%d\t%d\t%d\t%s\t%s\n", ok, notok, skip, todo, points, planerr, reason
	for (i = 1; i <= nlines; i++) print lines[i]
}
