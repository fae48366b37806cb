# A shell script for busybox ash: a function, loops, a subshell, command
# substitution, arithmetic, case, a here-document and redirections.
set -e

greet() {
    local who="$1"
    printf 'hello, %s (%d chars)\n' "$who" "${#who}"
}

for name in ada grace linus; do
    greet "$name"
done

i=0
total=0
while [ "$i" -lt 10 ]; do
    i=$((i + 1))
    total=$((total + i * i))
done
echo "sum of squares 1..10 = $total"

outer=kept
(
    outer=changed
    cd /
    echo "in subshell: outer=$outer pwd=$(pwd)"
    exit 4
) || echo "subshell exited with $?"
echo "after subshell: outer=$outer"

for word in 12 abc 7x ''; do
    case "$word" in
        '') echo "empty" ;;
        *[!0-9]*) echo "$word: not a number" ;;
        *) echo "$word: number" ;;
    esac
done

cat > notes.txt <<END
line one
line two with $outer
END
wc -l < notes.txt
upper=$(tr 'a-z' 'A-Z' < notes.txt | head -n 1)
echo "first line upper-cased: $upper"
echo "words: $(cat notes.txt | wc -w)"
