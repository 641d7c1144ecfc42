"""wxsite's app: answer WeChat, keep every message, let operators edit the rules.

The house rule is one home per concept. WeChat's names and limits are declared once in
``replies.protocol.vocabulary``; a reply is one value type (``replies.protocol.replies``) with one
validator, ``check_reply``, which the admin, the JSON import and the console import all call;
the endpoint and the rule tester share ``replies.rules.choice``. A second copy of a list drifts,
and the drift is a bug a follower sees: before adding a list, a limit or a conversion, find
where it already lives.
"""
