"""What the WeChat console switches off once a server URL is enabled, rebuilt on WeChat's API.

The custom menu first: ``models`` (the draft menu as button rows, and every publication),
``menus`` (draft ↔ menu/create body, publish, import the live menu, the key warnings), ``forms``
(the editor, validated by ``wechat_api.menu.check_menu``), ``admin`` (the editor page, the
history, and menu keys offered in the reply rules' trigger form) and the commands
``publish_menu``, ``export_menu`` and ``fake_wechat_api``. Replies never import this app.
"""
