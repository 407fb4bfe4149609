"""What each import KIND holds: canonical fields, their value types, and the headers people use for them.

This module is the contract between the readers, the value parsers, the demo generator and the store.
Header matching is done on a *normalized* header (see :func:`normalize_header`): case-folded, full-width
characters folded to ASCII, spaces/underscores/dashes/brackets removed, so ``Customer ID``, ``customer_id``
and ``客户ID`` all match.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "KINDS",
    "FieldSpec",
    "FieldType",
    "KindSpec",
    "kind_spec",
    "normalize_header",
]


class FieldType(str, Enum):
    """How a raw value is parsed."""

    TEXT = "text"  # stripped string; empty -> null
    ID = "id"  # identifier: stripped, full-width folded, a trailing ".0" from Excel removed
    DATE = "date"  # calendar date (2024-01-05, 2024/1/5, 2024年1月5日, 20240105, Excel serial)
    DATETIME = "datetime"  # date and time; naive values are in Settings.timezone; stored tz-aware (UTC)
    MONEY = "money"  # Decimal with 2 places (¥1,234.50, 1234元, -12.5, (12.50), 1.2万)
    DECIMAL = "decimal"  # Decimal, e.g. a margin rate
    INT = "int"  # whole number (full-width digits allowed)
    PHONE = "phone"  # normalized: digits only, +86/0086 prefix removed for mainland mobiles
    EMAIL = "email"  # lower-cased, validated shape
    TAGS = "tags"  # list of strings split on , ， ; ； 、 |
    CHOICE = "choice"  # one of FieldSpec.choices after synonym mapping (e.g. 已退款 -> refunded)


@dataclass(frozen=True)
class FieldSpec:
    """One canonical field of a kind."""

    name: str
    type: FieldType
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: dict[str, str] = field(default_factory=dict)  # normalized synonym -> canonical choice
    default: str | None = None


@dataclass(frozen=True)
class KindSpec:
    """One import kind (customers, orders, ...): its fields and natural key."""

    name: str
    fields: tuple[FieldSpec, ...]
    key: tuple[str, ...]  # fields that identify a row within one source (may be derived, see mapping)
    extra_field: str | None = None  # unmapped columns are kept under this JSON field (None: reported)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


def normalize_header(text: str) -> str:
    """Normalize a column header for matching: NFKC, case-fold, drop spaces, ``_-./()（）[]`` and a BOM."""
    s = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "").casefold()
    for ch in " \t\r\n_-./()（）[]【】:：*":
        s = s.replace(ch, "")
    return s


_CUSTOMER_ID = (
    "customer_id",
    "客户编号",
    "客户ID",
    "客户id",
    "客户代码",
    "客户号",
    "会员编号",
    "会员ID",
    "会员号",
    "用户ID",
    "用户编号",
    "customer",
    "customer no",
    "customer number",
    "cust_id",
    "client_id",
    "member_id",
    "user_id",
)

_STATUS_ORDER = {
    "paid": "paid",
    "已付款": "paid",
    "已支付": "paid",
    "付款": "paid",
    "待发货": "paid",
    "completed": "completed",
    "complete": "completed",
    "已完成": "completed",
    "完成": "completed",
    "交易成功": "completed",
    "已签收": "completed",
    "shipped": "completed",
    "已发货": "completed",
    "delivered": "completed",
    "success": "completed",
    "成功": "completed",
    "refunded": "refunded",
    "refund": "refunded",
    "已退款": "refunded",
    "退款": "refunded",
    "退货": "refunded",
    "已退货": "refunded",
    "returned": "refunded",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "已取消": "cancelled",
    "取消": "cancelled",
    "交易关闭": "cancelled",
    "closed": "cancelled",
    "pending": "pending",
    "待付款": "pending",
    "未付款": "pending",
    "unpaid": "pending",
}

_STATUS_CONTRACT = {
    "active": "active",
    "生效": "active",
    "生效中": "active",
    "执行中": "active",
    "履约中": "active",
    "expired": "expired",
    "到期": "expired",
    "已到期": "expired",
    "过期": "expired",
    "terminated": "terminated",
    "终止": "terminated",
    "已终止": "terminated",
    "解约": "terminated",
    "renewed": "renewed",
    "已续约": "renewed",
    "续约": "renewed",
    "draft": "draft",
    "草稿": "draft",
    "待签": "draft",
    "pending": "draft",
}

_INTERACTION_TYPE = {
    "login": "login",
    "登录": "login",
    "登陆": "login",
    "visit": "visit",
    "拜访": "visit",
    "到店": "visit",
    "访问": "visit",
    "浏览": "visit",
    "pageview": "visit",
    "call": "call",
    "电话": "call",
    "通话": "call",
    "来电": "call",
    "外呼": "call",
    "email": "email",
    "邮件": "email",
    "campaign": "campaign",
    "营销": "campaign",
    "活动": "campaign",
    "推送": "campaign",
    "短信": "campaign",
    "referral": "referral",
    "推荐": "referral",
    "转介绍": "referral",
    "meeting": "meeting",
    "会议": "meeting",
    "会面": "meeting",
    "chat": "chat",
    "微信": "chat",
    "企业微信": "chat",
    "聊天": "chat",
    "咨询": "chat",
    "review": "review",
    "评价": "review",
}

_PRIORITY = {
    "low": "low",
    "低": "low",
    "p3": "low",
    "normal": "normal",
    "medium": "normal",
    "中": "normal",
    "普通": "normal",
    "p2": "normal",
    "high": "high",
    "高": "high",
    "p1": "high",
    "紧急": "urgent",
    "urgent": "urgent",
    "p0": "urgent",
    "critical": "urgent",
}

_TICKET_STATUS = {
    "open": "open",
    "新建": "open",
    "待处理": "open",
    "打开": "open",
    "new": "open",
    "in_progress": "in_progress",
    "inprogress": "in_progress",
    "处理中": "in_progress",
    "pending": "in_progress",
    "resolved": "resolved",
    "已解决": "resolved",
    "解决": "resolved",
    "closed": "closed",
    "已关闭": "closed",
    "关闭": "closed",
}

_FEEDBACK_KIND = {
    "nps": "nps",
    "净推荐值": "nps",
    "推荐度": "nps",
    "csat": "csat",
    "满意度": "csat",
    "客户满意度": "csat",
}


def _f(
    name: str,
    type_: FieldType,
    *aliases: str,
    required: bool = False,
    choices: dict[str, str] | None = None,
    default: str | None = None,
) -> FieldSpec:
    normalized = {normalize_header(k): v for k, v in (choices or {}).items()}
    return FieldSpec(name, type_, required, tuple(aliases), normalized, default)


CUSTOMERS = KindSpec(
    "customers",
    (
        _f("customer_id", FieldType.ID, *_CUSTOMER_ID, required=True),
        _f(
            "name",
            FieldType.TEXT,
            "客户名称",
            "客户姓名",
            "姓名",
            "名称",
            "客户",
            "会员姓名",
            "联系人",
            "customer_name",
            "full_name",
            "name",
        ),
        _f(
            "phone",
            FieldType.PHONE,
            "手机",
            "手机号",
            "手机号码",
            "电话",
            "联系电话",
            "联系方式",
            "mobile",
            "phone",
            "phone_number",
            "tel",
            "telephone",
            "cellphone",
        ),
        _f(
            "email",
            FieldType.EMAIL,
            "邮箱",
            "电子邮箱",
            "电子邮件",
            "email",
            "e-mail",
            "mail",
            "email_address",
        ),
        _f(
            "company",
            FieldType.TEXT,
            "公司",
            "公司名称",
            "单位",
            "企业",
            "企业名称",
            "company",
            "company_name",
            "organization",
            "account",
        ),
        _f("industry", FieldType.TEXT, "行业", "所属行业", "industry"),
        _f("region", FieldType.TEXT, "地区", "区域", "大区", "省份", "省", "region", "province", "state"),
        _f("city", FieldType.TEXT, "城市", "所在城市", "city"),
        _f(
            "owner",
            FieldType.TEXT,
            "负责人",
            "客户负责人",
            "销售",
            "销售代表",
            "客户经理",
            "归属人",
            "跟进人",
            "owner",
            "account_owner",
            "sales_rep",
            "rep",
        ),
        _f(
            "acquisition_channel",
            FieldType.TEXT,
            "来源",
            "客户来源",
            "获客渠道",
            "渠道",
            "来源渠道",
            "acquisition_channel",
            "source_channel",
            "lead_source",
            "channel",
        ),
        _f(
            "first_contact_at",
            FieldType.DATETIME,
            "首次接触",
            "首次联系时间",
            "首次接触时间",
            "创建时间",
            "first_contact",
            "first_contact_at",
            "created_at",
            "lead_date",
        ),
        _f(
            "signup_at",
            FieldType.DATETIME,
            "注册时间",
            "注册日期",
            "签约时间",
            "入会时间",
            "signup",
            "signup_at",
            "signup_date",
            "registered_at",
            "join_date",
        ),
        _f("tags", FieldType.TAGS, "标签", "客户标签", "tags", "labels"),
    ),
    key=("customer_id",),
    extra_field="custom",
)

ORDERS = KindSpec(
    "orders",
    (
        _f(
            "order_id",
            FieldType.ID,
            "订单编号",
            "订单号",
            "订单ID",
            "单号",
            "交易号",
            "order_id",
            "order_no",
            "order_number",
            "order",
            "transaction_id",
            required=True,
        ),
        _f("customer_id", FieldType.ID, *_CUSTOMER_ID, required=True),
        _f(
            "ordered_at",
            FieldType.DATETIME,
            "下单时间",
            "订单日期",
            "下单日期",
            "订单时间",
            "交易时间",
            "购买日期",
            "成交日期",
            "日期",
            "order_date",
            "ordered_at",
            "order_time",
            "date",
            "purchase_date",
            "transaction_date",
            required=True,
        ),
        _f(
            "amount",
            FieldType.MONEY,
            "订单金额",
            "金额",
            "实付金额",
            "成交金额",
            "支付金额",
            "销售额",
            "订单总额",
            "amount",
            "order_amount",
            "total",
            "revenue",
            "sales",
            "value",
            "dollar_value",
            required=True,
        ),
        _f("currency", FieldType.TEXT, "币种", "货币", "currency"),
        _f("gross_margin", FieldType.MONEY, "毛利", "毛利额", "gross_margin", "margin", "profit"),
        _f("discount", FieldType.MONEY, "优惠金额", "折扣金额", "优惠", "折扣", "discount", "discount_amount"),
        _f("quantity", FieldType.INT, "数量", "件数", "购买数量", "quantity", "qty", "units", "number_of_cds"),
        _f(
            "product",
            FieldType.TEXT,
            "商品",
            "商品名称",
            "产品",
            "产品名称",
            "product",
            "product_name",
            "item",
            "sku",
        ),
        _f(
            "category",
            FieldType.TEXT,
            "品类",
            "类目",
            "商品类别",
            "产品类别",
            "分类",
            "category",
            "product_category",
        ),
        _f("channel", FieldType.TEXT, "销售渠道", "下单渠道", "订单来源", "渠道", "channel", "sales_channel"),
        _f(
            "status",
            FieldType.CHOICE,
            "订单状态",
            "状态",
            "交易状态",
            "status",
            "order_status",
            choices=_STATUS_ORDER,
            default="completed",
        ),
        _f(
            "paid_at",
            FieldType.DATETIME,
            "回款时间",
            "回款日期",
            "付款时间",
            "支付时间",
            "到账时间",
            "paid_at",
            "payment_date",
            "paid_date",
        ),
    ),
    key=("order_id",),
    extra_field="attributes",
)

CONTRACTS = KindSpec(
    "contracts",
    (
        _f(
            "contract_id",
            FieldType.ID,
            "合同编号",
            "合同号",
            "合同ID",
            "contract_id",
            "contract_no",
            "contract",
            required=True,
        ),
        _f("customer_id", FieldType.ID, *_CUSTOMER_ID, required=True),
        _f(
            "start_date",
            FieldType.DATE,
            "开始日期",
            "合同开始日期",
            "生效日期",
            "起始日期",
            "start_date",
            "start",
            "begin_date",
            "effective_date",
            required=True,
        ),
        _f(
            "end_date",
            FieldType.DATE,
            "结束日期",
            "合同结束日期",
            "到期日期",
            "到期日",
            "终止日期",
            "end_date",
            "end",
            "expiry_date",
            "expiration_date",
            required=True,
        ),
        _f("value", FieldType.MONEY, "合同金额", "合同总额", "金额", "value", "contract_value", "amount"),
        _f("currency", FieldType.TEXT, "币种", "货币", "currency"),
        _f(
            "status",
            FieldType.CHOICE,
            "合同状态",
            "状态",
            "status",
            choices=_STATUS_CONTRACT,
            default="active",
        ),
        _f(
            "renewal_of",
            FieldType.ID,
            "续约自",
            "原合同编号",
            "续签合同",
            "renewal_of",
            "renews",
            "previous_contract",
        ),
        _f("signed_at", FieldType.DATE, "签订日期", "签约日期", "signed_at", "signed_date"),
    ),
    key=("contract_id",),
    extra_field="attributes",
)

INTERACTIONS = KindSpec(
    "interactions",
    (
        _f(
            "interaction_id",
            FieldType.ID,
            "互动编号",
            "记录编号",
            "事件ID",
            "interaction_id",
            "event_id",
            "activity_id",
        ),
        _f("customer_id", FieldType.ID, *_CUSTOMER_ID, required=True),
        _f(
            "occurred_at",
            FieldType.DATETIME,
            "时间",
            "发生时间",
            "互动时间",
            "跟进时间",
            "日期",
            "occurred_at",
            "timestamp",
            "time",
            "date",
            "event_time",
            required=True,
        ),
        _f(
            "type",
            FieldType.CHOICE,
            "类型",
            "互动类型",
            "跟进方式",
            "事件类型",
            "type",
            "event_type",
            "interaction_type",
            "activity_type",
            required=True,
            choices=_INTERACTION_TYPE,
        ),
        _f("channel", FieldType.TEXT, "渠道", "来源", "channel", "source"),
        _f(
            "note",
            FieldType.TEXT,
            "备注",
            "跟进内容",
            "内容",
            "说明",
            "note",
            "notes",
            "description",
            "content",
        ),
    ),
    key=("interaction_id",),
    extra_field="attributes",
)

TICKETS = KindSpec(
    "tickets",
    (
        _f(
            "ticket_id",
            FieldType.ID,
            "工单编号",
            "工单号",
            "工单ID",
            "ticket_id",
            "ticket_no",
            "ticket",
            "case_id",
            required=True,
        ),
        _f("customer_id", FieldType.ID, *_CUSTOMER_ID, required=True),
        _f(
            "opened_at",
            FieldType.DATETIME,
            "创建时间",
            "提交时间",
            "开单时间",
            "opened_at",
            "created_at",
            "open_time",
            "created",
            required=True,
        ),
        _f(
            "first_response_at",
            FieldType.DATETIME,
            "首次响应时间",
            "首响时间",
            "响应时间",
            "first_response_at",
            "first_response",
            "responded_at",
        ),
        _f(
            "resolved_at",
            FieldType.DATETIME,
            "解决时间",
            "关闭时间",
            "完成时间",
            "resolved_at",
            "closed_at",
            "resolved",
        ),
        _f("topic", FieldType.TEXT, "主题", "问题类型", "工单类型", "分类", "topic", "subject", "category"),
        _f(
            "priority",
            FieldType.CHOICE,
            "优先级",
            "紧急程度",
            "priority",
            choices=_PRIORITY,
            default="normal",
        ),
        _f("status", FieldType.CHOICE, "状态", "工单状态", "status", choices=_TICKET_STATUS, default="open"),
        _f(
            "is_complaint",
            FieldType.CHOICE,
            "是否投诉",
            "投诉",
            "is_complaint",
            "complaint",
            choices={
                "是": "true",
                "否": "false",
                "yes": "true",
                "no": "false",
                "true": "true",
                "false": "false",
                "1": "true",
                "0": "false",
                "y": "true",
                "n": "false",
            },
            default="false",
        ),
        _f("satisfaction", FieldType.INT, "满意度", "满意度评分", "评分", "satisfaction", "csat", "rating"),
        _f("assignee", FieldType.TEXT, "处理人", "受理人", "负责人", "assignee", "agent", "owner"),
    ),
    key=("ticket_id",),
    extra_field="attributes",
)

FEEDBACK = KindSpec(
    "feedback",
    (
        _f(
            "feedback_id",
            FieldType.ID,
            "反馈编号",
            "问卷编号",
            "答卷编号",
            "feedback_id",
            "response_id",
            "survey_response_id",
        ),
        _f("customer_id", FieldType.ID, *_CUSTOMER_ID, required=True),
        _f(
            "kind",
            FieldType.CHOICE,
            "类型",
            "调研类型",
            "问卷类型",
            "kind",
            "type",
            "survey_type",
            required=True,
            choices=_FEEDBACK_KIND,
        ),
        _f("score", FieldType.INT, "评分", "分数", "得分", "推荐度评分", "score", "rating", required=True),
        _f(
            "responded_at",
            FieldType.DATETIME,
            "时间",
            "提交时间",
            "反馈时间",
            "日期",
            "responded_at",
            "date",
            "submitted_at",
            "timestamp",
            required=True,
        ),
        _f(
            "comment",
            FieldType.TEXT,
            "评论",
            "意见",
            "留言",
            "反馈内容",
            "备注",
            "comment",
            "comments",
            "feedback",
            "verbatim",
        ),
    ),
    key=("feedback_id",),
    extra_field="attributes",
)

KINDS: dict[str, KindSpec] = {k.name: k for k in (CUSTOMERS, ORDERS, CONTRACTS, INTERACTIONS, TICKETS, FEEDBACK)}


def kind_spec(kind: str) -> KindSpec:
    """The spec of an import kind, or ``KeyError`` for an unknown one."""
    return KINDS[kind]
