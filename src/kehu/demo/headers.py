"""The headers the demo files use: for each kind, canonical field -> Chinese column header.

Every header is one of the aliases :mod:`kehu.ingest.fields` lists for that field, chosen so that no earlier
field of the same kind claims it (the importer takes the first field in a kind's order whose aliases match);
the demo tests check both for every file.
"""

from __future__ import annotations

__all__ = ["HEADERS"]

# kind -> canonical field -> header written. "store" is the second customer list (kind customers).
HEADERS: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": "客户编号",
        "name": "客户名称",
        "phone": "手机号",
        "email": "邮箱",
        "company": "公司名称",
        "industry": "行业",
        "region": "省份",
        "city": "城市",
        "owner": "负责人",
        "acquisition_channel": "客户来源",
        "first_contact_at": "首次接触时间",
        "signup_at": "注册时间",
        "tags": "标签",
    },
    "store": {
        "customer_id": "会员编号",
        "name": "会员姓名",
        "phone": "手机号码",
        "email": "电子邮箱",
        "region": "省份",
        "city": "城市",
        "signup_at": "入会时间",
        "tags": "标签",
    },
    "orders": {
        "order_id": "订单编号",
        "customer_id": "客户编号",
        "ordered_at": "下单时间",
        "amount": "订单金额",
        "gross_margin": "毛利",
        "discount": "优惠金额",
        "quantity": "数量",
        "product": "商品名称",
        "category": "品类",
        "channel": "销售渠道",
        "status": "订单状态",
        "paid_at": "回款时间",
    },
    "contracts": {
        "contract_id": "合同编号",
        "renewal_of": "原合同编号",
        "customer_id": "客户编号",
        "signed_at": "签订日期",
        "start_date": "开始日期",
        "end_date": "结束日期",
        "value": "合同金额",
        "currency": "币种",
        "status": "合同状态",
    },
    "interactions": {
        "interaction_id": "互动编号",
        "customer_id": "客户编号",
        "occurred_at": "互动时间",
        "type": "互动类型",
        "channel": "渠道",
        "note": "备注",
    },
    "tickets": {
        "ticket_id": "工单编号",
        "customer_id": "客户编号",
        "opened_at": "创建时间",
        "first_response_at": "首次响应时间",
        "resolved_at": "解决时间",
        "topic": "问题类型",
        "priority": "优先级",
        "status": "工单状态",
        "is_complaint": "是否投诉",
        "satisfaction": "满意度",
        "assignee": "处理人",
    },
    "feedback": {
        "feedback_id": "答卷编号",
        "customer_id": "客户编号",
        "kind": "问卷类型",
        "score": "评分",
        "responded_at": "提交时间",
        "comment": "评论",
    },
}
