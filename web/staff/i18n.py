"""UI strings of the staff pages: English is the key, Chinese (简体) the translation.

The language is the ``kefu_staff_lang`` cookie (set by the switch in the header), else the
browser's ``Accept-Language``. A string without a translation shows in English.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")

ZH: dict[str, str] = {
    "Staff review": "客服后台",
    "Inbox": "会话",
    "Live": "实时",
    "Training": "训练",
    "Reports": "报表",
    "Users": "用户",
    "Audit log": "审计日志",
    "Model": "模型",
    "Sign in": "登录",
    "Sign out": "退出",
    "Name": "用户名",
    "Password": "密码",
    "Wrong name or password.": "用户名或密码错误。",
    "Search messages": "搜索消息",
    "Search": "搜索",
    "Filters": "筛选",
    "Apply": "应用",
    "Clear": "清除",
    "From": "起始日期",
    "To": "结束日期",
    "Intent": "意图",
    "Any": "全部",
    "Lowest confidence at most": "最低置信度不高于",
    "Fell back": "未理解",
    "Handed off": "转人工",
    "Yes": "是",
    "No": "否",
    "CSAT": "满意度",
    "Sentiment": "情绪",
    "Language": "语言",
    "Tag": "标签",
    "Status": "状态",
    "Sort": "排序",
    "Newest first": "最新优先",
    "Oldest first": "最早优先",
    "Lowest confidence first": "置信度最低优先",
    "conversations": "个会话",
    "Conversations": "会话数",
    "No conversations match.": "没有符合条件的会话。",
    "Started": "开始时间",
    "Conversation": "会话",
    "Messages": "消息",
    "Lowest confidence": "最低置信度",
    "Fallbacks": "未理解次数",
    "Tags": "标签",
    "Previous": "上一页",
    "Next": "下一页",
    "Page {page} of {pages}": "第 {page} 页，共 {pages} 页",
    "Export CSV": "导出 CSV",
    "Export JSONL": "导出 JSONL",
    "Customer": "顾客",
    "Bot": "机器人",
    "generator": "生成",
    "confidence": "置信度",
    "intent": "意图",
    "grounded": "有据",
    "knowledge": "知识库",
    "language": "语言",
    "Rejected generated answer": "被拦截的生成回答",
    "with bot": "机器人接待",
    "waiting": "等待人工",
    "with a person": "人工接待",
    "Correct": "修正",
    "Save correction": "保存修正",
    "Entities (mark as [value](entity))": "实体（标注格式 [值](实体)）",
    "Corrected to": "已修正为",
    "Add tag": "添加标签",
    "Remove": "移除",
    "Notes": "备注",
    "Add note": "添加备注",
    "Private note for staff": "仅员工可见的备注",
    "Details": "详情",
    "Open live view": "打开实时视图",
    "Show all events": "显示全部事件",
    "Waiting for a person": "等待人工",
    "With a person": "人工接待中",
    "Nobody is waiting.": "当前没有等待的顾客。",
    "Nobody is with a person.": "当前没有人工接待中的会话。",
    "Take over": "接管",
    "Hand back to the bot": "交还机器人",
    "Reply": "回复",
    "Send": "发送",
    "Type a reply to the customer": "输入给顾客的回复",
    "Training inbox": "训练收件箱",
    "Corrections": "修正",
    "Download YAML": "下载 YAML",
    "Write to project data folder": "写入项目 data 文件夹",
    "No corrections yet.": "暂无修正。",
    "Containment rate": "机器人独立解决率",
    "Fallback rate": "未理解率",
    "Handoff rate": "转人工率",
    "Conversations per day": "每日会话数",
    "Top intents": "最常见意图",
    "Lowest-confidence intents": "置信度最低的意图",
    "Reload model": "重新加载模型",
    "Servers": "服务器",
    "Add user": "添加用户",
    "Role": "角色",
    "Disable": "停用",
    "Enable": "启用",
    "When": "时间",
    "Who": "操作人",
    "Action": "操作",
    "Target": "对象",
    "Not found": "未找到",
    "Forbidden": "无权访问",
    "Skip to content": "跳到正文",
    "signed in as": "当前用户",
}


def translator(language: str):  # type: ignore[no-untyped-def]
    """The ``_`` function for templates in ``language``."""
    table = ZH if language == "zh" else {}

    def gettext(text: str) -> str:
        return table.get(text, text)

    return gettext


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    first = (accept_language or "").split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"
