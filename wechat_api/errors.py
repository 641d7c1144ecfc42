"""Errors of WeChat's server API, one typed exception per way a call can fail.

Every failure of a call through ``wechat_api.client`` is a ``WeChatAPIError``: an errcode WeChat
answered (``errcode`` and ``errmsg`` exactly as WeChat sent them), no answer at all
(``WeChatAPIUnavailable``: a timeout or a connection error), an answer that is not WeChat's JSON
(``WeChatAPIBadAnswer``: HTML from a proxy, truncated or malformed JSON), or a client that cannot
call at all (``WeChatAPINotConfigured``). Each carries ``explanation``: what it means and what an
operator can do about it, in Chinese, because operators read it in the admin. These are plain
strings, not Django translations: this package has no Django (see ``wechat_api/__init__.py``).

``error_for(errcode, errmsg)`` returns the right subclass for an errcode; codes without a class
of their own are a plain ``WeChatAPIError`` (with an explanation when one is known), so a code
WeChat adds later is still an error with its errmsg, never a crash.
"""

from __future__ import annotations

from replies.protocol.vocabulary import (
    MENU_MAX_BUTTONS,
    MENU_MAX_SUB_BUTTONS,
    MENU_NAME_MAX_BYTES,
    MENU_SUB_NAME_MAX_BYTES,
)

__all__ = [
    "ACCESS_TOKEN_ERRCODES",
    "EXPLANATIONS",
    "SYSTEM_BUSY",
    "APIUnauthorized",
    "CustomerServiceWindowClosed",
    "IPNotWhitelisted",
    "InvalidAccessToken",
    "InvalidAppID",
    "InvalidAppSecret",
    "InvalidOpenID",
    "MenuError",
    "MenuNotFound",
    "QuotaExceeded",
    "SystemBusy",
    "WeChatAPIBadAnswer",
    "WeChatAPIError",
    "WeChatAPINotConfigured",
    "WeChatAPIUnavailable",
    "error_for",
]

SYSTEM_BUSY = -1
# The access token is invalid or expired: get a fresh one (once) and call again.
ACCESS_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})

_MENU_LIMITS = (
    f"（一级菜单最多 {MENU_MAX_BUTTONS} 个，每个最多 {MENU_MAX_SUB_BUTTONS} 个子菜单；名称一级 "
    f"{MENU_NAME_MAX_BYTES} 字节、子菜单 {MENU_SUB_NAME_MAX_BYTES} 字节，一个汉字 3 字节）"
)

# What each errcode means for an operator, and what to do. WeChat's own errmsg is English and
# terse ("invalid ip 203.0.113.9, not in whitelist"); it is shown next to this, never replaced.
EXPLANATIONS: dict[int, str] = {
    SYSTEM_BUSY: "微信服务器繁忙，请稍后再试。",
    40001: "access_token 无效：AppSecret 可能已重置，或其他服务用 /cgi-bin/token 刷新了令牌。"
    "请核对 WECHAT_APP_SECRET，并让所有服务改用 stable_token 共用令牌。",
    40002: "grant_type 不正确（应为 client_credential）。",
    40003: "OpenID 无效：该用户未关注本公众号，或这是其他公众号的 OpenID。",
    40007: "media_id 或 article_id 无效：请在素材库或「发表记录」中确认它存在且属于本公众号。",
    40008: "消息类型不合法。",
    40013: "AppID 无效：请核对 WECHAT_APP_ID（在公众平台「设置与开发 → 基本配置」中查看）。",
    40014: "access_token 不合法，将重新获取。",
    40016: "菜单按钮个数不合法" + _MENU_LIMITS + "。",
    40017: "菜单按钮类型不合法，或有子菜单的按钮又设置了类型。",
    40018: "菜单按钮名称长度不合法：一级菜单名称最多 16 字节（5 个汉字）。",
    40019: "菜单按钮 KEY 长度不合法：不能为空，最多 128 字节。",
    40020: "菜单按钮 URL 长度不合法：不能为空，最多 1024 字节。",
    40022: "子菜单级数不合法：子菜单下不能再有子菜单。",
    40023: "子菜单按钮个数不合法：每个一级菜单最多 5 个子菜单。",
    40024: "子菜单按钮类型不合法。",
    40025: "子菜单按钮名称长度不合法：最多 60 字节（20 个汉字）。",
    40026: "子菜单按钮 KEY 长度不合法：不能为空，最多 128 字节。",
    40027: "子菜单按钮 URL 长度不合法：不能为空，最多 1024 字节。",
    40033: "请求中含有 \\uxxxx 格式的字符：菜单内容必须以 UTF-8 原文发送。",
    40054: "子菜单按钮 URL 的域名不合法：请使用 http:// 或 https:// 开头的完整网址。",
    40055: "菜单按钮 URL 的域名不合法：请使用 http:// 或 https:// 开头的完整网址。",
    40066: "URL 不合法。",
    40125: "AppSecret 无效：请核对 WECHAT_APP_SECRET（在公众平台「设置与开发 → 基本配置」中重置后，"
    "旧的 AppSecret 立即失效）。",
    40164: "调用接口的IP地址不在白名单中："
    "在公众平台「设置与开发 → 基本配置 → IP白名单」加入服务器的出口 IP",
    40165: "小程序页面路径（pagepath）不合法。",
    40166: "小程序 AppID 不合法，或该小程序未与本公众号关联。",
    41001: "缺少 access_token 参数。",
    41002: "缺少 appid 参数。",
    41004: "缺少 secret 参数：请设置 WECHAT_APP_SECRET。",
    42001: "access_token 已过期，将重新获取。",
    43004: "该用户未关注本公众号。",
    45009: "接口调用次数已达今日上限：请明天再试，或在公众平台「设置与开发 → 接口权限」查看额度"
    "（每天可清零 10 次）。",
    45011: "接口调用太频繁，请稍后再试。",
    45015: "已超出 48 小时客服消息时限：用户最后一次发消息已超过 48 小时，"
    "或已取消关注；等用户再次发消息后才能回复。",
    45047: "客服消息下发条数已达上限：用户发消息后 48 小时内最多可回复 5 条，"
    "等用户再次发消息后再试。",
    46003: "公众号尚未通过接口设置菜单（菜单可能是在公众平台后台设置的）。",
    48001: "公众号没有调用此接口的权限：在公众平台「设置与开发 → 接口权限」查看"
    "（未认证的公众号没有部分接口）。",
    48004: "接口已被封禁，请登录公众平台查看原因。",
    50002: "用户受限，可能是违规后接口被封禁。",
    53600: "article_id 无效：请在「发表记录」中确认该图文已发表。",
    61004: "调用接口的IP地址不在白名单中："
    "在公众平台「设置与开发 → 基本配置 → IP白名单」加入服务器的出口 IP",
    65301: "不存在此 menuid 对应的个性化菜单。",
    65302: "没有相应的用户。",
    65303: "没有默认菜单，不能创建个性化菜单：请先发布默认菜单。",
    65304: "个性化菜单的匹配规则为空。",
    65305: "个性化菜单数量已达上限。",
    65306: "该公众号不支持个性化菜单。",
    65307: "个性化菜单信息为空。",
    65308: "有按钮既没有子菜单也没有设置类型：每个按钮要么有子菜单，要么有一种响应类型。",
    65309: "个性化菜单开关处于关闭状态。",
    65316: "菜单中跳转的网页域名太多（最多 3 个域名）。",
    65317: "菜单中的 URL 不合法。",
    89503: "此 IP 调用接口需要管理员确认：请公众号管理员在微信中确认后再试。",
}


class WeChatAPIError(Exception):
    """Signal that a call to WeChat's API failed; ``explanation`` tells an operator what to do.

    ``errcode`` is WeChat's (None when WeChat did not answer with one), ``errmsg`` is exactly what
    WeChat sent (or our description when it sent nothing usable). ``str(error)`` is one line for
    logs and command output: ``errcode 40164: <explanation> (WeChat: <errmsg>)``.
    """

    def __init__(self, errcode: int | None, errmsg: str, explanation: str | None = None):
        self.errcode = errcode
        self.errmsg = errmsg
        if explanation is None:
            explanation = EXPLANATIONS.get(errcode, "") if errcode is not None else ""
        self.explanation = explanation or f"微信接口返回错误 {errcode}。"
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.errcode is None:
            return f"{self.explanation} ({self.errmsg})"
        return f"errcode {self.errcode}: {self.explanation} (WeChat: {self.errmsg})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(errcode={self.errcode!r}, errmsg={self.errmsg!r})"


class WeChatAPIUnavailable(WeChatAPIError):
    """No answer from WeChat: a timeout, a refused connection, a failed name lookup, TLS."""

    def __init__(self, errmsg: str):
        super().__init__(
            None,
            errmsg,
            "无法连接微信服务器（超时或网络错误）："
            "请检查服务器能否访问 api.weixin.qq.com，稍后再试。",
        )


class WeChatAPIBadAnswer(WeChatAPIError):
    """WeChat (or something in between) answered, but not with the JSON object expected."""

    def __init__(self, errmsg: str):
        super().__init__(
            None,
            errmsg,
            "微信服务器的应答无法识别（不是预期的 JSON）："
            "可能是网络代理或微信临时故障，请稍后再试。",
        )


class WeChatAPINotConfigured(WeChatAPIError):
    """The client cannot call: no AppID, or neither an AppSecret nor an access token."""

    def __init__(self, errmsg: str, explanation: str = ""):
        super().__init__(
            None,
            errmsg,
            explanation
            or "未配置公众号的 AppID 和 AppSecret（WECHAT_APP_ID、WECHAT_APP_SECRET）。",
        )


class SystemBusy(WeChatAPIError):
    """errcode -1: WeChat is busy; the client already retried with back-off."""


class InvalidAccessToken(WeChatAPIError):
    """errcode 40001, 40014 or 42001, still after one fresh token."""


class InvalidAppID(WeChatAPIError):
    """errcode 40013."""


class InvalidAppSecret(WeChatAPIError):
    """errcode 40125."""


class IPNotWhitelisted(WeChatAPIError):
    """errcode 40164 (61004 on older accounts): this host's address is not in the IP whitelist."""


class QuotaExceeded(WeChatAPIError):
    """errcode 45009 (daily quota) or 45011 (too frequent)."""


class APIUnauthorized(WeChatAPIError):
    """errcode 48001 or 48004: the account may not call this API."""


class InvalidOpenID(WeChatAPIError):
    """errcode 40003 or 43004: not a follower of this account."""


class CustomerServiceWindowClosed(WeChatAPIError):
    """errcode 45015 (more than 48 hours since the follower's last message) or 45047 (the
    messages allowed in that window are used up): wait for the follower to write again."""


class MenuNotFound(WeChatAPIError):
    """errcode 46003: no menu was set through the API (it may have been set in the console)."""


class MenuError(WeChatAPIError):
    """A menu WeChat refuses: button count, type, name, key or URL (400xx, 65xxx)."""


_MENU_ERRCODES = {
    40016,
    40017,
    40018,
    40019,
    40020,
    40022,
    40023,
    40024,
    40025,
    40026,
    40027,
    40033,
    40054,
    40055,
    40165,
    40166,
    53600,
    *range(65301, 65318),
}

_CLASSES: dict[int, type[WeChatAPIError]] = {
    SYSTEM_BUSY: SystemBusy,
    **dict.fromkeys(ACCESS_TOKEN_ERRCODES, InvalidAccessToken),
    40013: InvalidAppID,
    40125: InvalidAppSecret,
    40164: IPNotWhitelisted,
    61004: IPNotWhitelisted,
    45009: QuotaExceeded,
    45011: QuotaExceeded,
    48001: APIUnauthorized,
    48004: APIUnauthorized,
    40003: InvalidOpenID,
    43004: InvalidOpenID,
    45015: CustomerServiceWindowClosed,
    45047: CustomerServiceWindowClosed,
    46003: MenuNotFound,
    **dict.fromkeys(_MENU_ERRCODES, MenuError),
}


def error_for(errcode: int, errmsg: str) -> WeChatAPIError:
    """Return the typed error for WeChat's ``errcode`` with its ``errmsg`` kept as sent."""
    return _CLASSES.get(errcode, WeChatAPIError)(errcode, errmsg)
