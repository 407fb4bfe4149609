"""Reference data for the demo company 山禾茶业: names, places, teams, channels, products and phrases.

The demo company is a tea brand that sells to consumers online and in stores (B2C) and runs an enterprise
arm (B2B: office tea service and corporate gift boxes on yearly contracts). Everything here is static,
hand-written reference data; the generator modules draw from it with seeded random numbers.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "B2B_CHANNELS",
    "B2B_NOTES",
    "B2B_PRODUCTS",
    "B2B_TOPICS",
    "B2C_CHANNELS",
    "B2C_TOPICS",
    "BRANDS",
    "CITIES",
    "COMMENTS",
    "COMPANY_SUFFIXES",
    "COMPLAINT_TOPICS",
    "GIVEN",
    "INDUSTRIES",
    "NEW_YEAR",
    "ORDER_CHANNELS",
    "PRODUCTS",
    "RARE_GIVEN",
    "RISK_NOTES",
    "SURNAMES",
    "TEAMS",
    "City",
    "Product",
]


class City(NamedTuple):
    name: str
    province: str
    pinyin: str
    weight: float
    team: int  # index into TEAMS


class Product(NamedTuple):
    name: str
    category: str
    price: float  # list price in yuan
    margin: float  # gross margin rate on the list price
    tier: int  # 0 everyday, 1 mid, 2 premium / gifts


def _fields(text: str) -> list[list[str]]:
    """Whitespace-separated ``a:b:c`` items -> their fields (compact notation for long tables)."""
    return [item.split(":") for item in text.split()]


# Sales teams: name and the short region label used in notes. Managers and reps are generated.
TEAMS: tuple[tuple[str, int], ...] = (
    ("华东大客户部", 5),
    ("华南销售部", 4),
    ("华北销售部", 4),
    ("中西部销售部", 4),
)

# (city, province, pinyin, weight, team)
CITIES: tuple[City, ...] = tuple(
    City(*row)
    for row in (
        ("上海市", "上海市", "shanghai", 9.0, 0),
        ("杭州市", "浙江省", "hangzhou", 6.0, 0),
        ("宁波市", "浙江省", "ningbo", 2.5, 0),
        ("温州市", "浙江省", "wenzhou", 2.0, 0),
        ("绍兴市", "浙江省", "shaoxing", 1.2, 0),
        ("南京市", "江苏省", "nanjing", 4.0, 0),
        ("苏州市", "江苏省", "suzhou", 4.0, 0),
        ("无锡市", "江苏省", "wuxi", 2.0, 0),
        ("常州市", "江苏省", "changzhou", 1.3, 0),
        ("合肥市", "安徽省", "hefei", 2.2, 0),
        ("福州市", "福建省", "fuzhou", 1.8, 0),
        ("厦门市", "福建省", "xiamen", 1.8, 0),
        ("泉州市", "福建省", "quanzhou", 1.2, 0),
        ("南昌市", "江西省", "nanchang", 1.4, 0),
        ("济南市", "山东省", "jinan", 2.0, 0),
        ("青岛市", "山东省", "qingdao", 2.4, 0),
        ("烟台市", "山东省", "yantai", 0.9, 0),
        ("广州市", "广东省", "guangzhou", 6.5, 1),
        ("深圳市", "广东省", "shenzhen", 7.0, 1),
        ("东莞市", "广东省", "dongguan", 2.2, 1),
        ("佛山市", "广东省", "foshan", 2.0, 1),
        ("珠海市", "广东省", "zhuhai", 0.9, 1),
        ("汕头市", "广东省", "shantou", 0.8, 1),
        ("南宁市", "广西壮族自治区", "nanning", 1.3, 1),
        ("桂林市", "广西壮族自治区", "guilin", 0.6, 1),
        ("海口市", "海南省", "haikou", 0.7, 1),
        ("三亚市", "海南省", "sanya", 0.4, 1),
        ("北京市", "北京市", "beijing", 8.5, 2),
        ("天津市", "天津市", "tianjin", 3.0, 2),
        ("石家庄市", "河北省", "shijiazhuang", 1.6, 2),
        ("唐山市", "河北省", "tangshan", 0.8, 2),
        ("太原市", "山西省", "taiyuan", 1.2, 2),
        ("呼和浩特市", "内蒙古自治区", "huhehaote", 0.6, 2),
        ("沈阳市", "辽宁省", "shenyang", 1.9, 2),
        ("大连市", "辽宁省", "dalian", 1.7, 2),
        ("长春市", "吉林省", "changchun", 1.2, 2),
        ("哈尔滨市", "黑龙江省", "haerbin", 1.5, 2),
        ("武汉市", "湖北省", "wuhan", 4.0, 3),
        ("宜昌市", "湖北省", "yichang", 0.6, 3),
        ("长沙市", "湖南省", "changsha", 3.0, 3),
        ("郑州市", "河南省", "zhengzhou", 3.0, 3),
        ("洛阳市", "河南省", "luoyang", 0.8, 3),
        ("成都市", "四川省", "chengdu", 5.5, 3),
        ("绵阳市", "四川省", "mianyang", 0.6, 3),
        ("重庆市", "重庆市", "chongqing", 4.5, 3),
        ("西安市", "陕西省", "xian", 3.2, 3),
        ("昆明市", "云南省", "kunming", 1.8, 3),
        ("贵阳市", "贵州省", "guiyang", 1.3, 3),
        ("兰州市", "甘肃省", "lanzhou", 0.8, 3),
        ("银川市", "宁夏回族自治区", "yinchuan", 0.4, 3),
        ("西宁市", "青海省", "xining", 0.3, 3),
        ("乌鲁木齐市", "新疆维吾尔自治区", "wulumuqi", 0.7, 3),
        ("拉萨市", "西藏自治区", "lasa", 0.2, 3),
    )
)

# Common surnames with pinyin and a rough frequency weight.
SURNAMES: tuple[tuple[str, str, float], ...] = tuple(
    (c, py, float(w))
    for c, py, w in _fields("""
    王:wang:7.1 李:li:7 张:zhang:6.7 刘:liu:5.4 陈:chen:4.5 杨:yang:3.1 黄:huang:2.2 赵:zhao:2 吴:wu:1.9
    周:zhou:1.9 徐:xu:1.3 孙:sun:1.3 马:ma:1.2 朱:zhu:1.2 胡:hu:1.1 郭:guo:1.1 何:he:1 林:lin:0.9 罗:luo:0.9
    高:gao:0.9 郑:zheng:0.8 梁:liang:0.8 谢:xie:0.7 宋:song:0.6 唐:tang:0.6 许:xu:0.6 韩:han:0.6 冯:feng:0.5
    邓:deng:0.5 曹:cao:0.5 彭:peng:0.5 曾:zeng:0.5 萧:xiao:0.4 田:tian:0.4 董:dong:0.4 袁:yuan:0.4 潘:pan:0.4
    于:yu:0.4 蒋:jiang:0.4 蔡:cai:0.4 余:yu:0.4 杜:du:0.4 叶:ye:0.4 程:cheng:0.4 苏:su:0.3 魏:wei:0.3 吕:lv:0.3
    丁:ding:0.3 任:ren:0.3 沈:shen:0.3 姚:yao:0.3 卢:lu:0.3 姜:jiang:0.3 崔:cui:0.3 钟:zhong:0.3 谭:tan:0.3
    陆:lu:0.3 汪:wang:0.3 范:fan:0.3 金:jin:0.3 石:shi:0.3 廖:liao:0.3 贾:jia:0.3 夏:xia:0.2 韦:wei:0.2
    付:fu:0.2 方:fang:0.2 白:bai:0.2 邹:zou:0.2 孟:meng:0.2 熊:xiong:0.2 秦:qin:0.2 邱:qiu:0.2 江:jiang:0.2
    尹:yin:0.2 薛:xue:0.2 闫:yan:0.2 段:duan:0.2 雷:lei:0.2 侯:hou:0.2 龙:long:0.2 史:shi:0.2 陶:tao:0.2
    黎:li:0.2 贺:he:0.2 顾:gu:0.2 毛:mao:0.2 郝:hao:0.2 龚:gong:0.2 邵:shao:0.2 万:wan:0.1 钱:qian:0.1
    严:yan:0.1 覃:qin:0.1 武:wu:0.1 欧阳:ouyang:0.05 司马:sima:0.01 诸葛:zhuge:0.01 上官:shangguan:0.01
""")
)

# Characters used in given names, with pinyin.
GIVEN: tuple[tuple[str, str], ...] = tuple(
    (c, py)
    for c, py in _fields("""
    伟:wei 芳:fang 娜:na 敏:min 静:jing 丽:li 强:qiang 磊:lei 军:jun 洋:yang 勇:yong 艳:yan 杰:jie 娟:juan
    涛:tao 明:ming 超:chao 秀:xiu 霞:xia 平:ping 刚:gang 桂:gui 英:ying 华:hua 玉:yu 兰:lan 萍:ping 红:hong
    鹏:peng 辉:hui 婷:ting 雪:xue 梅:mei 琳:lin 晨:chen 浩:hao 宇:yu 欣:xin 怡:yi 佳:jia 子:zi 轩:xuan 涵:han
    雨:yu 博:bo 文:wen 思:si 嘉:jia 俊:jun 瑶:yao 晓:xiao 一:yi 诗:shi 梓:zi 欢:huan 健:jian 波:bo 斌:bin
    宁:ning 楠:nan 凯:kai 昊:hao 然:ran 悦:yue 泽:ze 鑫:xin 亮:liang 峰:feng 建:jian 国:guo 志:zhi 海:hai
    云:yun 天:tian 成:cheng 慧:hui 颖:ying 倩:qian 蕾:lei 彤:tong 航:hang 昕:xin 睿:rui 哲:zhe 翔:xiang 宏:hong
    立:li 新:xin 春:chun 秋:qiu 德:de 安:an 琪:qi 璐:lu 露:lu 瑞:rui 晶:jing 帆:fan
""")
)

# Rare characters seen in real given names; the first ones are outside plain GBK (need GB18030).
RARE_GIVEN: tuple[tuple[str, str], ...] = (
    ("䶮", "yan"),
    ("𠀾", "qiu"),
    ("𫖯", "fu"),
    ("㛃", "jie"),
    ("𬌗", ""),
    ("𬇙", ""),
    ("堃", "kun"),
    ("喆", "zhe"),
    ("玥", "yue"),
    ("珺", "jun"),
    ("翀", "chong"),
)

NEW_YEAR: dict[int, tuple[int, int]] = {  # 春节 (Lunar New Year's Day), month and day
    2018: (2, 16),
    2019: (2, 5),
    2020: (1, 25),
    2021: (2, 12),
    2022: (2, 1),
    2023: (1, 22),
    2024: (2, 10),
    2025: (1, 29),
    2026: (2, 17),
    2027: (2, 6),
    2028: (1, 26),
    2029: (2, 13),
    2030: (2, 3),
    2031: (1, 23),
    2032: (2, 11),
    2033: (1, 31),
    2034: (2, 19),
    2035: (2, 8),
    2036: (1, 28),
    2037: (2, 15),
    2038: (2, 4),
}

# Consumer acquisition channels (客户来源) with weights, and the order channel each customer mostly uses.
B2C_CHANNELS: tuple[tuple[str, float], ...] = (
    ("天猫旗舰店", 0.24),
    ("京东自营", 0.14),
    ("抖音直播", 0.14),
    ("小红书", 0.08),
    ("微信小程序", 0.12),
    ("线下门店", 0.12),
    ("朋友推荐", 0.07),
    ("百度搜索", 0.04),
    ("地推活动", 0.05),
)
B2B_CHANNELS: tuple[tuple[str, float], ...] = (
    ("展会", 0.25),
    ("官网询盘", 0.25),
    ("电话拓展", 0.2),
    ("合作伙伴推荐", 0.15),
    ("老客户转介绍", 0.15),
)
# Order channels (销售渠道); index i is the default order channel for B2C acquisition channel i.
ORDER_CHANNELS: tuple[str, ...] = (
    "天猫",
    "京东",
    "抖音小店",
    "微信小程序",
    "微信小程序",
    "线下门店",
    "微信小程序",
    "官网商城",
    "线下门店",
)

INDUSTRIES: tuple[str, ...] = (
    "互联网",
    "制造业",
    "金融",
    "教育",
    "医疗健康",
    "零售",
    "房地产",
    "物流",
    "餐饮酒店",
    "专业服务",
    "政府机构",
)
BRANDS: tuple[tuple[str, str], ...] = (
    ("恒达", "hengda"),
    ("华信", "huaxin"),
    ("鼎盛", "dingsheng"),
    ("锦程", "jincheng"),
    ("中科", "zhongke"),
    ("天成", "tiancheng"),
    ("瑞丰", "ruifeng"),
    ("宏远", "hongyuan"),
    ("新元", "xinyuan"),
    ("博雅", "boya"),
    ("远航", "yuanhang"),
    ("金桥", "jinqiao"),
    ("银河", "yinhe"),
    ("海纳", "haina"),
    ("东方", "dongfang"),
    ("卓越", "zhuoyue"),
    ("智联", "zhilian"),
    ("汇通", "huitong"),
    ("永安", "yongan"),
    ("盛世", "shengshi"),
    ("华美", "huamei"),
    ("嘉禾", "jiahe"),
    ("鑫源", "xinyuan"),
    ("云帆", "yunfan"),
    ("启明", "qiming"),
    ("同创", "tongchuang"),
    ("光华", "guanghua"),
    ("凯瑞", "kairui"),
    ("长城", "changcheng"),
    ("信达", "xinda"),
)
COMPANY_SUFFIXES: dict[str, tuple[str, str]] = {  # industry -> (name word, domain word)
    "互联网": ("网络科技有限公司", "tech"),
    "制造业": ("精密制造有限公司", "mfg"),
    "金融": ("投资管理有限公司", "capital"),
    "教育": ("教育科技有限公司", "edu"),
    "医疗健康": ("医疗器械有限公司", "med"),
    "零售": ("商贸有限公司", "trade"),
    "房地产": ("置业有限公司", "land"),
    "物流": ("供应链管理有限公司", "scm"),
    "餐饮酒店": ("酒店管理有限公司", "hotel"),
    "专业服务": ("咨询有限公司", "consulting"),
    "政府机构": ("服务中心", "gov"),
}

PRODUCTS: tuple[Product, ...] = tuple(
    Product(*row)
    for row in (
        ("明前西湖龙井 250g", "绿茶", 598.0, 0.58, 2),
        ("洞庭碧螺春 200g", "绿茶", 368.0, 0.52, 1),
        ("黄山毛峰 250g", "绿茶", 198.0, 0.46, 0),
        ("安吉白茶 200g", "绿茶", 288.0, 0.50, 1),
        ("正山小种 200g", "红茶", 268.0, 0.50, 1),
        ("祁门红茶 250g", "红茶", 228.0, 0.48, 0),
        ("滇红金芽 200g", "红茶", 188.0, 0.47, 0),
        ("安溪铁观音 250g", "乌龙茶", 238.0, 0.49, 0),
        ("武夷大红袍 200g", "乌龙茶", 458.0, 0.56, 2),
        ("凤凰单丛 200g", "乌龙茶", 328.0, 0.52, 1),
        ("普洱熟茶饼 357g", "普洱", 298.0, 0.55, 1),
        ("普洱生茶饼 357g", "普洱", 528.0, 0.60, 2),
        ("新会小青柑 300g", "普洱", 158.0, 0.45, 0),
        ("茉莉花茶 250g", "花草茶", 88.0, 0.42, 0),
        ("桂花乌龙袋泡茶 30包", "花草茶", 68.0, 0.40, 0),
        ("菊花枸杞茶 20包", "花草茶", 49.0, 0.38, 0),
        ("青瓷盖碗套装", "茶具", 168.0, 0.44, 1),
        ("宜兴紫砂壶", "茶具", 680.0, 0.48, 2),
        ("便携旅行茶具", "茶具", 128.0, 0.41, 0),
        ("玻璃公道杯", "茶具", 45.0, 0.36, 0),
        ("中秋茶礼盒", "礼盒", 398.0, 0.50, 2),
        ("春节茶礼盒", "礼盒", 588.0, 0.52, 2),
        ("商务伴手礼盒", "礼盒", 258.0, 0.47, 1),
        ("桂花糕 6枚", "茶点", 39.0, 0.35, 0),
        ("绿茶酥 8枚", "茶点", 29.0, 0.33, 0),
        ("每日坚果礼包", "茶点", 99.0, 0.30, 0),
    )
)
B2B_PRODUCTS: tuple[Product, ...] = tuple(
    Product(*row)
    for row in (
        ("办公室茶水服务月结", "企业服务", 6800.0, 0.34, 1),
        ("企业定制礼盒", "礼盒", 12000.0, 0.40, 2),
        ("会议茶歇套餐", "企业服务", 3200.0, 0.38, 0),
        ("茶具批量采购", "茶具", 8600.0, 0.31, 1),
    )
)

B2C_TOPICS: tuple[str, ...] = (
    "物流延迟",
    "商品质量",
    "退换货",
    "发票问题",
    "账户登录",
    "优惠券使用",
    "配送破损",
    "会员积分",
    "服务态度",
    "退款进度",
)
COMPLAINT_TOPICS: tuple[str, ...] = ("商品质量", "物流延迟", "服务态度", "退款进度", "配送破损")
B2B_TOPICS: tuple[str, ...] = ("茶水机故障", "账单疑问", "合同条款", "发票问题", "配送延误", "定制需求变更", "服务态度")

B2B_NOTES: tuple[str, ...] = (
    "季度回访，客户满意",
    "介绍新品礼盒方案",
    "确认本月配送计划",
    "沟通续约事宜",
    "确认回款进度",
    "协助开具发票",
    "客户咨询节日福利采购",
    "培训行政对接人使用采购平台",
    "客户提出增加会议茶歇",
)
RISK_NOTES: tuple[str, ...] = (
    "客户表示预算收紧",
    "对接人离职，新对接人态度冷淡",
    "客户抱怨配送不及时",
    "客户在比价其他供应商",
    "客户暂停部分服务",
    "客户投诉茶水机维修慢",
)

# Survey comments by score band: detractor, passive, promoter.
COMMENTS: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = (
    (
        "物流太慢了",
        "价格偏贵，性价比不高",
        "茶叶有碎末，品质下降",
        "客服回复很慢",
        "退款拖了很久",
        "包装破损",
        "和描述不符",
    ),
    ("还可以", "中规中矩", "希望多一些优惠", "口感一般", "包装可以再精致点"),
    (
        "茶叶品质很好，会继续回购",
        "包装精美，送礼有面子",
        "客服很耐心",
        "发货快，推荐给朋友了",
        "一直喝这家，值得信赖",
        "性价比高",
    ),
)
