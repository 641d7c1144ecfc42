"""One realistic example of every message type and event WeChat documents (fields beyond the
common four), for tests that must cover them all."""

MESSAGES = {
    "text": ("text", {"Content": "你好 hello"}),
    "text_from_article": ("text", {"Content": "评论", "MsgDataId": "2247483653", "Idx": "1"}),
    "image": ("image", {"PicUrl": "http://mmbiz.qpic.cn/x.jpg", "MediaId": "media_img_1"}),
    "voice": (
        "voice",
        {"MediaId": "media_voice_1", "Format": "amr", "Recognition": "腾讯微信团队"},
    ),
    "video": ("video", {"MediaId": "media_video_1", "ThumbMediaId": "thumb_1"}),
    "shortvideo": ("shortvideo", {"MediaId": "media_sv_1", "ThumbMediaId": "thumb_2"}),
    "location": (
        "location",
        {"Location_X": "23.134521", "Location_Y": "113.358803", "Scale": "20", "Label": "广州"},
    ),
    "link": (
        "link",
        {"Title": "公众平台官网链接", "Description": "描述", "Url": "https://mp.weixin.qq.com/s/x"},
    ),
    "miniprogrampage": (
        "miniprogrampage",
        {
            "AppId": "wxapp123",
            "Title": "小程序卡片",
            "PagePath": "pages/index/index",
            "ThumbUrl": "http://mmbiz.qpic.cn/t.jpg",
            "ThumbMediaId": "thumb_3",
        },
    ),
}

EVENTS = {
    "subscribe": {"Event": "subscribe"},
    "subscribe_qrscene": {"Event": "subscribe", "EventKey": "qrscene_123", "Ticket": "TICKET1"},
    "unsubscribe": {"Event": "unsubscribe"},
    "scan": {"Event": "SCAN", "EventKey": "123", "Ticket": "TICKET2"},
    "location": {
        "Event": "LOCATION",
        "Latitude": "23.137466",
        "Longitude": "113.352425",
        "Precision": "119.385040",
    },
    "click": {"Event": "CLICK", "EventKey": "MENU_1"},
    "view": {"Event": "VIEW", "EventKey": "https://example.com/page", "MenuId": "208396938"},
    "view_miniprogram": {
        "Event": "view_miniprogram",
        "EventKey": "pages/index/index",
        "MenuId": "MENUID",
    },
    "scancode_push": {
        "Event": "scancode_push",
        "EventKey": "scan_1",
        "ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": "https://example.com"},
    },
    "scancode_waitmsg": {
        "Event": "scancode_waitmsg",
        "EventKey": "scan_2",
        "ScanCodeInfo": {"ScanType": "barcode", "ScanResult": "EAN_13,6901234567892"},
    },
    "pic_sysphoto": {
        "Event": "pic_sysphoto",
        "EventKey": "photo_1",
        "SendPicsInfo": {
            "Count": 1,
            "PicList": [{"PicMd5Sum": "1b5f7c23b5bf75682a53e7b6d163e185"}],
        },
    },
    "pic_photo_or_album": {
        "Event": "pic_photo_or_album",
        "EventKey": "photo_2",
        "SendPicsInfo": {"Count": 2, "PicList": [{"PicMd5Sum": "aa"}, {"PicMd5Sum": "bb"}]},
    },
    "pic_weixin": {
        "Event": "pic_weixin",
        "EventKey": "photo_3",
        "SendPicsInfo": {"Count": 1, "PicList": [{"PicMd5Sum": "cc"}]},
    },
    "location_select": {
        "Event": "location_select",
        "EventKey": "loc_1",
        "SendLocationInfo": {
            "Location_X": "23",
            "Location_Y": "113",
            "Scale": "15",
            "Label": "广州市海珠区",
            "Poiname": "",
        },
    },
    "templatesendjobfinish": {
        "Event": "TEMPLATESENDJOBFINISH",
        "MsgID": "200163836",
        "Status": "success",
    },
    "masssendjobfinish": {
        "Event": "MASSSENDJOBFINISH",
        "MsgID": "1988",
        "Status": "sendsuccess",
        "TotalCount": 100,
        "FilterCount": 80,
        "SentCount": 75,
        "ErrorCount": 5,
    },
    "publishjobfinish": {
        "Event": "PUBLISHJOBFINISH",
        "PublishEventInfo": {"publish_id": "2247503051", "publish_status": 0, "article_id": "b5O"},
    },
    "kf_create_session": {"Event": "kf_create_session", "KfAccount": "test1@test"},
    "never_seen_before": {"Event": "some_future_event", "Whatever": "x"},
}


def decrypt_message(*, encrypt: str, key: bytes, app_id: str) -> bytes:
    """Decrypt with one key: the endpoint's decrypt_with_keys given a single key."""
    from replies.protocol import decrypt_with_keys

    return decrypt_with_keys(encrypt=encrypt, keys=(key,), app_id=app_id)[0]
