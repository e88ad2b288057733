"""Which API methods answer anonymous callers (upstream's ``PublicMethods``).

Every ``/api/v1`` route is named after its RPC (``"MemoService.GetMemo"``); the auth middleware
refuses every route not listed here unless the caller authenticated. Upstream's REST gateway skips
this check; memos-py enforces it uniformly, as the spec asks.
"""

PUBLIC_METHODS: frozenset[str] = frozenset(
    {
        "AuthService.SignIn",
        "AuthService.RefreshToken",
        # SignOut must work with only the refresh cookie (an expired access token is normal).
        "AuthService.SignOut",
        "AuthService.GetCurrentUser",  # answers 401 itself, clearing the refresh cookie
        # memos-py's password recovery: whoever forgot their password is signed out by definition.
        "AuthService.ForgotPassword",
        "AuthService.ResetPassword",
        "InstanceService.GetInstanceProfile",
        "InstanceService.GetInstanceSetting",
        "UserService.CreateUser",
        "UserService.GetUser",
        "UserService.BatchGetUsers",
        "UserService.GetUserAvatar",
        "UserService.GetUserStats",
        "UserService.ListAllUserStats",
        "IdentityProviderService.ListIdentityProviders",
        "MemoService.GetMemo",
        "MemoService.ListMemos",
        "MemoService.ListMemoComments",
        "MemoService.GetMemoByShare",
        # Anonymous callers see only PUBLIC data through these (the services filter).
        "MemoService.ListMemoRelations",
        "MemoService.ListMemoReactions",
        "MemoService.ListMemoAttachments",
        "AttachmentService.GetAttachment",
        # The SSE handler demands a Bearer credential itself, answering upstream's own 401 body.
        "SSE.Subscribe",
    }
)


def is_public(route_name: str | None) -> bool:
    return route_name in PUBLIC_METHODS
