#!/usr/bin/env bash
# The review stack's comment on its pull request: one per pull request, found again by its first line and
# updated in place, so the latest deploy (or the teardown) is what the pull request shows.
#
# Reads (review.yml's comment job sets them): REPO, PR, STACK; DEPLOY and TEARDOWN, the results of those jobs
# (success, failure, cancelled, skipped); from the deploy: VERDICT (streamcheck's exit status: 0 streamed,
# 1 buffered or error, 2 not checked; empty if it never ran), API_URL, REPORT (streamcheck's table) and
# TIMELINE_URL (the artifact holding timeline.png); RUN_URL; GH_TOKEN for gh.
set -euo pipefail

MARKER='<!-- streamgate-review-stack -->'

headline() {
  if [ "${TEARDOWN:-skipped}" != skipped ]; then
    if [ "$TEARDOWN" = success ]; then
      echo "Review stack \`$STACK\` destroyed and removed."
    else
      echo "Review stack \`$STACK\`: the teardown did not finish ($TEARDOWN); its resources may still exist."
    fi
    return
  fi
  case "${VERDICT:-}" in
    0) echo "Review stack \`$STACK\` streams: STREAMED." ;;
    1) echo "Review stack \`$STACK\` is deployed but does not stream (BUFFERED or ERROR, see the table)." ;;
    2) echo "Review stack \`$STACK\` is deployed, but streamcheck could not check it." ;;
    *) echo "Review stack \`$STACK\`: the deploy did not get as far as streamcheck ($DEPLOY)." ;;
  esac
}

body() {
  echo "$MARKER"
  echo "### $(headline)"
  echo
  if [ "${TEARDOWN:-skipped}" = skipped ]; then
    if [ -n "${API_URL:-}" ]; then
      echo "- URL: $API_URL"
    fi
    if [ -n "${TIMELINE_URL:-}" ]; then
      echo "- Timeline picture: [timeline.png in the streamcheck-$STACK artifact]($TIMELINE_URL)"
    fi
    if [ -n "${REPORT:-}" ]; then
      echo
      echo '```'
      echo "$REPORT"
      echo '```'
    fi
  fi
  echo
  echo "[The run]($RUN_URL) · remove the \`review-stack\` label or close the pull request to destroy the stack."
}

file=$(mktemp)
body > "$file"

# Ours is the bot's comment that starts with the marker; anyone else's (or the bot's preview comment) is left alone.
existing=$(gh api "repos/$REPO/issues/$PR/comments" --paginate --slurp | MARKER="$MARKER" python3 -c '
import json, os, sys
ours = [comment["id"] for page in json.load(sys.stdin) for comment in page
        if comment["user"]["login"] == "github-actions[bot]" and comment["body"].startswith(os.environ["MARKER"])]
print(ours[-1] if ours else "")
')
if [ -n "$existing" ]; then
  gh api --method PATCH "repos/$REPO/issues/comments/$existing" -F "body=@$file" > /dev/null
else
  gh api --method POST "repos/$REPO/issues/$PR/comments" -F "body=@$file" > /dev/null
fi
