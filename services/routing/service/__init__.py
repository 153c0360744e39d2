"""Routing's use cases, each over one unit of work (`shared.uow`): the agency
directory and its versions (`directory`), and the referrals routing sends and moves
on (`referrals`)."""

# Who acts when no one does: routing itself, in a referral's steps and the directory's
# versions.
SYSTEM = "signpost"
