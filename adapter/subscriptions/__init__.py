"""Topic-based Subscriptions (the Subscriptions R5 Backport IG, R4 representation): inbox items pushed
to rest-hook endpoints, numbered in the feed's commit order, so that a receiver sees every gap."""
