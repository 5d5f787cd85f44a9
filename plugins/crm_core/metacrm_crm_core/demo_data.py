"""Demo data for the Standard CRM: realistic, bilingual (zh_CN and en_US), deterministic.

:func:`generate` builds accounts, contacts, leads, opportunities, cases,
activities, campaigns and products and hands them to a ``create`` callable
supplied by the caller (the platform's record store in the demo command, a
fake in the tests). Every picklist value, text length and lookup target is
read from the YAML metadata package next to this module, so the data cannot
drift from the metadata: a weight naming a value the package no longer has
raises :class:`KeyError` at once.

About half the records are Chinese (names, companies, addresses, phone
numbers and texts from Faker's ``zh_CN`` locale) and half American
(``en_US``). Related records follow their account's language.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from faker import Faker

PACKAGE_DIR = Path(__file__).parent / "package"
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Rows per object at scale 1.0, in creation order (lookup targets first).
BASE_COUNTS: dict[str, int] = {
    "product": 40,
    "campaign": 20,
    "account": 300,
    "contact": 600,
    "opportunity": 350,
    "lead": 400,
    "article": 10,
    "case": 200,
    "activity": 1200,
    "campaign_member": 300,
}

# The most rows handed to ``create`` in one call.
CHUNK_SIZE = 1000

# Opportunity stage → win probability (percent) and forecast category. The
# automation rule stage_probability (objects/opportunity/automations.yaml)
# sets the same probabilities on every save; the demo sends them as well.
STAGE_PROBABILITY = {
    "prospecting": 10,
    "qualification": 20,
    "proposal": 50,
    "negotiation": 75,
    "closed_won": 100,
    "closed_lost": 0,
}
STAGE_FORECAST = {
    "prospecting": "pipeline",
    "qualification": "pipeline",
    "proposal": "best_case",
    "negotiation": "commit",
    "closed_won": "closed",
    "closed_lost": "omitted",
}

Create = Callable[[str, list[dict[str, Any]]], Sequence[int]]
Progress = Callable[[str, int, int], None]

ZH, EN = "zh", "en"
# Business hours are those of Beijing and New York (standard time); datetimes are written in UTC.
LOCAL_TIME = {ZH: dt.timezone(dt.timedelta(hours=8)), EN: dt.timezone(dt.timedelta(hours=-5))}


# -- the metadata package --------------------------------------------------------------


@cache
def load_fields(package_dir: Path = PACKAGE_DIR) -> dict[str, dict[str, dict[str, Any]]]:
    """``{object api name: {field api name: field document}}`` from the package's fields.yaml files."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted((package_dir / "objects").glob("*/fields.yaml")):
        documents = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER) or []
        result[path.parent.name] = {d["api_name"]: d for d in documents}
    return result


def picklist_values(fields: dict[str, dict[str, Any]], field: str) -> list[str]:
    """The active values of a picklist or multi-picklist field, in package order."""
    options = fields[field].get("options") or {}
    return [v["value"] for v in options.get("values", []) if v.get("active", True)]


# -- small fixed vocabularies ------------------------------------------------------------

# (surname, pinyin): the commonest Chinese family names.
ZH_SURNAMES = [
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
    ("彭", "peng"),
    ("曾", "zeng"),
    ("肖", "xiao"),
    ("田", "tian"),
    ("董", "dong"),
    ("潘", "pan"),
    ("袁", "yuan"),
    ("蒋", "jiang"),
    ("蔡", "cai"),
    ("余", "yu"),
    ("杜", "du"),
    ("叶", "ye"),
    ("程", "cheng"),
    ("魏", "wei"),
    ("苏", "su"),
    ("丁", "ding"),
    ("沈", "shen"),
]
ZH_GIVEN_MALE = [
    ("伟", "wei"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("刚", "gang"),
    ("华", "hua"),
    ("建", "jian"),
    ("文", "wen"),
    ("辉", "hui"),
    ("鹏", "peng"),
    ("宇", "yu"),
    ("浩", "hao"),
    ("博", "bo"),
    ("凯", "kai"),
    ("俊", "jun"),
    ("志", "zhi"),
    ("天", "tian"),
    ("海", "hai"),
    ("睿", "rui"),
    ("晨", "chen"),
    ("嘉", "jia"),
    ("子", "zi"),
]
ZH_GIVEN_FEMALE = [
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("艳", "yan"),
    ("娟", "juan"),
    ("秀", "xiu"),
    ("霞", "xia"),
    ("英", "ying"),
    ("婷", "ting"),
    ("欣", "xin"),
    ("佳", "jia"),
    ("琳", "lin"),
    ("雪", "xue"),
    ("梅", "mei"),
    ("思", "si"),
    ("雨", "yu"),
    ("萱", "xuan"),
    ("慧", "hui"),
    ("颖", "ying"),
    ("晓", "xiao"),
    ("燕", "yan"),
    ("倩", "qian"),
    ("瑶", "yao"),
    ("怡", "yi"),
    ("晨", "chen"),
    ("文", "wen"),
]
ZH_AREA_CODES = ["10", "21", "20", "755", "571", "28", "27", "25", "22", "23", "512", "532"]
EMAIL_DOMAINS = {
    ZH: ["qq.com", "163.com", "126.com", "foxmail.com", "sina.com"],
    EN: ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com"],
}

# (title en, department en, title zh, department zh); the first ones are senior.
JOBS = [
    ("Chief Executive Officer", "Management", "总经理", "总经办"),
    ("Chief Information Officer", "IT", "首席信息官", "信息技术部"),
    ("Chief Financial Officer", "Finance", "财务总监", "财务部"),
    ("VP of Sales", "Sales", "销售副总裁", "销售部"),
    ("IT Director", "IT", "IT 总监", "信息技术部"),
    ("Procurement Manager", "Procurement", "采购经理", "采购部"),
    ("Operations Manager", "Operations", "运营经理", "运营部"),
    ("Marketing Manager", "Marketing", "市场经理", "市场部"),
    ("Sales Manager", "Sales", "销售经理", "销售部"),
    ("Finance Manager", "Finance", "财务经理", "财务部"),
    ("Customer Service Manager", "Customer Service", "客服主管", "客户服务部"),
    ("Systems Engineer", "IT", "系统工程师", "信息技术部"),
    ("Project Manager", "PMO", "项目经理", "项目管理部"),
    ("Buyer", "Procurement", "采购专员", "采购部"),
    ("Office Administrator", "Administration", "行政主管", "行政部"),
    ("Business Analyst", "Operations", "业务分析师", "运营部"),
]
SENIOR_JOBS = 5

# (family, unit, en name, zh name, price range in CNY)
PRODUCT_CATALOG = [
    ("hardware", "each", "Edge Server", "边缘服务器", (18_000, 90_000)),
    ("hardware", "each", "Network Switch", "网络交换机", (3_000, 25_000)),
    ("hardware", "each", "Smart POS Terminal", "智能收银终端", (2_000, 8_000)),
    ("hardware", "each", "Storage Array", "存储阵列", (40_000, 200_000)),
    ("hardware", "each", "Barcode Scanner", "条码扫描枪", (500, 3_000)),
    ("software", "license", "CRM Suite", "CRM 套件", (3_000, 12_000)),
    ("software", "license", "Data Analytics Suite", "数据分析套件", (8_000, 40_000)),
    ("software", "license", "Security Gateway", "安全网关软件", (10_000, 60_000)),
    ("software", "license", "ERP Connector", "ERP 连接器", (5_000, 20_000)),
    ("service", "day", "Implementation Services", "实施服务", (2_000, 5_000)),
    ("service", "day", "Training Workshop", "培训工作坊", (3_000, 8_000)),
    ("service", "year", "Premium Support", "高级技术支持", (20_000, 120_000)),
    ("service", "hour", "Consulting", "咨询服务", (800, 2_500)),
    ("subscription", "month", "Cloud CRM", "云 CRM", (150, 600)),
    ("subscription", "year", "Cloud Storage 1 TB", "云存储 1TB", (1_000, 4_000)),
    ("subscription", "month", "Marketing Automation", "营销自动化", (1_000, 6_000)),
    ("subscription", "year", "Customer Service Cloud", "客服云", (5_000, 30_000)),
]
EDITIONS = [("Standard", "标准版"), ("Professional", "专业版"), ("Enterprise", "旗舰版"), ("Lite", "轻量版")]
CODE_PREFIX = {"hardware": "HW", "software": "SW", "service": "SV", "subscription": "SB"}
TAX_RATE = {"hardware": 13, "software": 13, "service": 6, "subscription": 6}

# campaign type → [(en name, zh name)]
CAMPAIGN_NAMES = {
    "email": [
        ("Product newsletter", "产品资讯邮件"),
        ("Renewal reminder mailing", "续约提醒邮件"),
        ("New release announcement", "新版本发布邮件"),
    ],
    "event": [
        ("Customer summit", "客户峰会"),
        ("Industry expo booth", "行业展会"),
        ("Partner roadshow", "合作伙伴巡展"),
    ],
    "webinar": [
        ("Webinar: digital sales", "网络研讨会：数字化销售"),
        ("Webinar: service excellence", "网络研讨会：卓越服务"),
        ("Webinar: data-driven marketing", "网络研讨会：数据驱动营销"),
    ],
    "advertisement": [
        ("Search ads", "搜索引擎广告"),
        ("Trade magazine ads", "行业媒体广告"),
        ("Outdoor ads", "户外广告"),
    ],
    "social": [
        ("WeChat official account push", "微信公众号推广"),
        ("LinkedIn campaign", "领英推广"),
        ("Short video campaign", "短视频推广"),
    ],
    "other": [
        ("Customer referral program", "客户推荐计划"),
        ("Trial promotion", "免费试用推广"),
    ],
}
CAMPAIGN_SOURCE = {
    "email": "web",
    "event": "event",
    "webinar": "event",
    "advertisement": "advertisement",
    "social": "social_media",
    "other": "referral",
}

# opportunity type → [(en topic, zh topic)]
DEAL_TOPICS = {
    "new_business": [
        ("CRM rollout", "CRM 系统建设"),
        ("Data platform", "数据平台项目"),
        ("Store digitalisation", "门店数字化"),
        ("Network upgrade", "网络升级改造"),
        ("Service desk", "客服中心建设"),
    ],
    "existing_business": [
        ("Second site", "二期项目"),
        ("New department rollout", "新部门推广"),
        ("Analytics add-on", "数据分析扩展"),
    ],
    "renewal": [
        ("Annual renewal", "年度续约"),
        ("Support renewal", "维保续约"),
        ("Subscription renewal", "订阅续费"),
    ],
    "upsell": [
        ("Seat expansion", "增购账号"),
        ("Storage expansion", "存储扩容"),
        ("Premium support upgrade", "升级高级支持"),
    ],
}
NEXT_STEPS = [
    ("Schedule a product demo", "安排产品演示"),
    ("Send the quotation", "发送报价单"),
    ("Technical review with IT", "与 IT 部门进行技术评审"),
    ("Meet the decision maker", "拜访决策人"),
    ("Confirm contract terms with procurement", "与采购确认合同条款"),
    ("Prepare the proposal", "准备解决方案建议书"),
]
COMPETITORS = ["Salesforce", "HubSpot", "Zoho", "Microsoft Dynamics", "SAP", "纷享销客", "销售易", "用友", "金蝶"]

# case category → [(en subject, zh subject)]
CASE_SUBJECTS = {
    "question": [
        ("How do I export customer data?", "如何导出客户数据？"),
        ("Question about my invoice", "发票开具咨询"),
        ("How to add more users", "如何增加用户账号"),
        ("Where can I download the manual?", "在哪里下载使用手册？"),
    ],
    "problem": [
        ("Cannot log in", "无法登录系统"),
        ("Data sync fails every night", "每晚数据同步失败"),
        ("Reports load very slowly", "报表加载非常缓慢"),
        ("Device does not connect to the network", "设备无法连接网络"),
        ("Error when saving an order", "保存订单时报错"),
    ],
    "feature_request": [
        ("Please support bulk approval", "希望支持批量审批"),
        ("Add a WeChat integration", "希望增加微信集成"),
        ("Export to PDF", "希望支持导出 PDF"),
    ],
    "complaint": [
        ("Implementation is behind schedule", "实施进度延误"),
        ("Support answers too slowly", "客服响应太慢"),
        ("Delivered hardware was damaged", "收到的硬件有损坏"),
    ],
    "other": [
        ("Change of contact person", "变更对接人"),
        ("Request for a site visit", "申请上门服务"),
    ],
}
# case category → [(en resolution, zh resolution)]
RESOLUTIONS = {
    "question": [
        ("Explained the steps; the customer confirmed it works.", "已说明操作步骤，客户确认问题解决。"),
        ("Sent the documentation link.", "已发送相关文档链接。"),
    ],
    "problem": [
        ("Reset the password and enabled two-factor sign-in.", "已重置密码并开启双因素登录。"),
        ("Fixed the sync job configuration; verified the next run.", "已修正同步任务配置，并确认下一次运行正常。"),
        ("Replaced the device under warranty.", "已在保修期内更换设备。"),
        ("Installed the patch; the error no longer occurs.", "已安装补丁，问题不再出现。"),
    ],
    "feature_request": [
        ("Logged as a product suggestion for the next release.", "已记录为产品需求，计划在后续版本中评估。"),
    ],
    "complaint": [
        ("Apologised, agreed a recovery plan and a service credit.", "已致歉，并商定整改计划和服务补偿。"),
        ("Assigned a dedicated project manager.", "已指派专职项目经理跟进。"),
    ],
    "other": [
        ("Updated the records as requested.", "已按客户要求更新资料。"),
    ],
}
SLA_HOURS = {"urgent": 4, "high": 24, "medium": 72, "low": 120}
# First-response targets by priority: the case's response_target_hours formula.
RESPONSE_HOURS = {"urgent": 1, "high": 4, "medium": 8, "low": 24}

# Knowledge base: (category, case category it answers, keywords, en (title, body), zh (title, body));
# each topic is written in both languages.
ARTICLES = [
    (
        "troubleshooting",
        "problem",
        ["login", "password", "登录"],
        (
            "Cannot log in: reset your password",
            "<p>Open the sign-in page, choose <b>Forgot password</b> and follow the e-mail.</p>"
            "<p>Still locked out? Ask your administrator to end your sessions.</p>",
        ),
        (
            "无法登录：重置密码",
            "<p>打开登录页，点击<b>忘记密码</b>，按邮件提示操作。</p><p>仍无法登录？请管理员结束你的所有会话。</p>",
        ),
    ),
    (
        "troubleshooting",
        "problem",
        ["sync", "同步"],
        (
            "Nightly data sync fails",
            "<p>Check the sync job's credentials and its schedule, then run it once by hand.</p>",
        ),
        ("每晚数据同步失败", "<p>检查同步任务的凭据和计划时间，然后手动运行一次。</p>"),
    ),
    (
        "how_to",
        "question",
        ["export", "导出"],
        ("How to export customer data", "<p>Open the list, filter it, then choose <b>Export</b> → CSV or Excel.</p>"),
        ("如何导出客户数据", "<p>打开列表并筛选，然后选择<b>导出</b> → CSV 或 Excel。</p>"),
    ),
    (
        "billing",
        "question",
        ["invoice", "发票"],
        (
            "Questions about your invoice",
            "<p>Invoices are issued against each payment received; ask your account manager for a copy.</p>",
        ),
        ("发票相关问题", "<p>每笔回款都会开具发票；如需副本请联系客户经理。</p>"),
    ),
    (
        "getting_started",
        "question",
        ["users", "用户"],
        (
            "Adding more users",
            "<p>An administrator invites users under <b>Setup → Users</b> and gives them a role.</p>",
        ),
        ("如何增加用户账号", "<p>管理员在<b>设置 → 用户</b>中邀请用户并为其分配角色。</p>"),
    ),
]

# activity type → [(en subject, zh subject)]
ACTIVITY_SUBJECTS = {
    "task": [
        ("Prepare the quotation", "准备报价"),
        ("Update the account plan", "更新客户计划"),
        ("Send the contract draft", "发送合同草稿"),
        ("Follow up on the invoice", "跟进发票"),
        ("Collect requirements", "收集需求"),
    ],
    "call": [
        ("Introductory call", "初次电话沟通"),
        ("Follow-up call", "电话回访"),
        ("Call about the proposal", "方案沟通电话"),
        ("Renewal call", "续约沟通电话"),
    ],
    "meeting": [
        ("Product demo", "产品演示"),
        ("Kick-off meeting", "项目启动会"),
        ("Quarterly business review", "季度业务回顾"),
        ("On-site visit", "现场拜访"),
        ("Contract negotiation", "合同谈判"),
    ],
    "email": [
        ("Sent the product brochure", "发送产品手册"),
        ("Sent the quotation", "发送报价单"),
        ("Sent the meeting minutes", "发送会议纪要"),
    ],
    "note": [
        ("Budget confirmed for next quarter", "已确认下季度预算"),
        ("Decision expected after the board meeting", "董事会后做决定"),
        ("Customer prefers on-premise deployment", "客户倾向本地部署"),
    ],
}
MEETING_PLACES = {
    ZH: ["客户会议室", "我司会议室", "腾讯会议", "客户工厂", "咖啡厅"],
    EN: ["Customer office", "Our office", "Zoom", "Customer plant", "Microsoft Teams"],
}

ACCOUNT_TAGS = {
    ZH: ["重点跟进", "续约风险", "标杆客户", "渠道客户", "政府采购"],
    EN: ["vip", "renewal risk", "reference", "channel", "public tender"],
}
NEEDS = [
    ("sales automation", "销售自动化"),
    ("customer service", "客户服务"),
    ("data analytics", "数据分析"),
    ("IT infrastructure", "IT 基础设施"),
    ("marketing automation", "营销自动化"),
    ("cloud migration", "上云迁移"),
]


# -- the generator --------------------------------------------------------------------------


def generate(
    create: Create,
    *,
    owner_ids: list[int],
    scale: float = 1.0,
    seed: int = 42,
    progress: Progress | None = None,
    today: dt.date | None = None,
    lead_to_cash: bool = False,
) -> dict[str, int]:
    """Create the demo records through ``create`` and return how many of each object were made.

    ``create(object_api_name, rows)`` inserts up to :data:`CHUNK_SIZE` rows and
    returns their new ids in order. Rows map field api names to JSON-style
    values (ISO strings for dates and datetimes, numbers for currency and
    percent, lists for multi-picklists and many-to-many ids, ints for lookups)
    plus ``owner_id`` chosen from ``owner_ids`` (left out when it is empty).
    ``scale`` multiplies :data:`BASE_COUNTS`; ``seed`` and ``today`` make the
    output reproducible; ``progress(object_api_name, created_so_far, total)``
    is called after every call to ``create``. ``lead_to_cash`` adds a price
    book, opportunity products, quotes, and for won deals orders, contracts,
    payment plans, payments and invoices (their counts follow from the deals).
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    generator = _Generator(create, list(owner_ids), scale, seed, progress, today or dt.date.today())
    return generator.run(lead_to_cash=lead_to_cash)


class _Generator:
    def __init__(
        self, create: Create, owner_ids: list[int], scale: float, seed: int, progress: Progress | None, today: dt.date
    ):
        self.create = create
        self.owner_ids = owner_ids
        self.progress = progress
        self.today = today
        self.now = dt.datetime.combine(today, dt.time(23, 0), tzinfo=dt.UTC)  # "now" on the reference day
        self.fields = load_fields()
        self.rng = random.Random(seed)
        self.fakers = {ZH: Faker("zh_CN"), EN: Faker("en_US")}
        self.fakers[ZH].seed_instance(seed)
        self.fakers[EN].seed_instance(seed + 1)
        self.totals = {name: max(1, round(n * scale)) for name, n in BASE_COUNTS.items()}
        self.created = dict.fromkeys(self.totals, 0)
        # What later objects need to know about earlier records.
        self.products: list[dict] = []
        self.campaigns: list[dict] = []
        self.accounts: list[dict] = []
        self.contacts: list[dict] = []
        self.contacts_by_account: dict[int, list[dict]] = {}
        self.opportunities: list[dict] = []
        self.leads: list[dict] = []
        self.cases: list[dict] = []
        self.articles: list[dict] = []

    def run(self, *, lead_to_cash: bool = False) -> dict[str, int]:
        self.make_products()
        self.make_campaigns()
        self.make_accounts()
        self.make_contacts()
        self.make_opportunities()
        self.make_leads()
        self.make_articles()
        self.make_cases()
        self.make_activities()
        self.make_campaign_members()
        if lead_to_cash:
            self.make_lead_to_cash()
        return dict(self.created)

    # -- helpers ----------------------------------------------------------------------

    def insert(self, obj: str, rows: list[dict[str, Any]]) -> list[int]:
        ids: list[int] = []
        for start in range(0, len(rows), CHUNK_SIZE):
            chunk = rows[start : start + CHUNK_SIZE]
            new_ids = list(self.create(obj, chunk))
            if len(new_ids) != len(chunk):
                raise RuntimeError(f"create({obj!r}) returned {len(new_ids)} ids for {len(chunk)} rows")
            ids.extend(new_ids)
            self.created[obj] += len(chunk)
            if self.progress:
                self.progress(obj, self.created[obj], self.totals[obj])
        return ids

    def pick(self, obj: str, field: str, weights: dict[str, float] | None = None) -> str:
        """A value of a picklist; ``weights`` (value → weight) default to 1 for values it doesn't name."""
        values = picklist_values(self.fields[obj], field)
        weights = weights or {}
        unknown = set(weights) - set(values)
        if unknown:
            raise KeyError(f"{obj}.{field} has no value(s) {sorted(unknown)}")
        return self.rng.choices(values, [weights.get(v, 1) for v in values])[0]

    def check(self, obj: str, field: str, value: str) -> str:
        """``value`` if it is one of the picklist's values (for values chosen by rule, not at random)."""
        if value not in picklist_values(self.fields[obj], field):
            raise KeyError(f"{obj}.{field} has no value {value!r}")
        return value

    def sample(self, obj: str, field: str, choices: list[str], k_max: int) -> list[str]:
        values = [self.check(obj, field, v) for v in choices]
        return self.rng.sample(values, self.rng.randint(1, min(k_max, len(values))))

    def text(self, obj: str, field: str, value: str) -> str:
        """``value`` cut to the field's max_length."""
        limit = (self.fields[obj][field].get("options") or {}).get("max_length")
        return value[:limit] if limit else value

    def owner(self, inherit: dict | None = None, keep: float = 0.8) -> dict[str, int]:
        if not self.owner_ids:
            return {}
        if inherit and "owner_id" in inherit and self.rng.random() < keep:
            return {"owner_id": inherit["owner_id"]}
        return {"owner_id": self.rng.choice(self.owner_ids)}

    def locale(self) -> str:
        return ZH if self.rng.random() < 0.5 else EN

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def day(self, lo: int, hi: int) -> dt.date:
        return self.today + dt.timedelta(days=self.rng.randint(lo, hi))

    def moment(self, day: dt.date, loc: str, first_hour: int = 9, last_hour: int = 17) -> dt.datetime:
        """A time of ``day`` within business hours where the record lives, in UTC."""
        local = dt.time(self.rng.randint(first_hour, last_hour), self.rng.choice((0, 15, 30, 45)))
        return dt.datetime.combine(day, local, tzinfo=LOCAL_TIME[loc]).astimezone(dt.UTC)

    @staticmethod
    def iso(value: dt.date | dt.datetime) -> str:
        return value.isoformat(timespec="seconds") if isinstance(value, dt.datetime) else value.isoformat()

    def money(self, lo: float, hi: float, step: int = 100) -> float:
        return float(round(self.rng.uniform(lo, hi) / step) * step)

    def phone(self, loc: str, mobile: bool = False) -> str:
        fk = self.fakers[loc]
        if loc == ZH:
            if mobile:
                return fk.numerify(f"+86 1{self.rng.choice('3456789')}# #### ####")
            return fk.numerify(f"+86 {self.rng.choice(ZH_AREA_CODES)} %### ####")
        return f"+1 {self.rng.randint(201, 989)}-{self.rng.randint(200, 999)}-{self.rng.randint(0, 9999):04d}"

    def person(self, loc: str) -> dict[str, str]:
        """Names, a romanised e-mail local part and a salutation for one person."""
        female = self.chance(0.45)
        if loc == ZH:
            surname, surname_py = self.rng.choice(ZH_SURNAMES)
            pool = ZH_GIVEN_FEMALE if female else ZH_GIVEN_MALE
            chars = self.rng.sample(pool, self.rng.choice((1, 2, 2)))
            given, given_py = "".join(c for c, _ in chars), "".join(p for _, p in chars)
            return {
                "first_name": given,
                "last_name": surname,
                "full_name": surname + given,
                "local": f"{given_py}.{surname_py}",
                "salutation": "ms" if female else "mr",
            }
        fk = self.fakers[EN]
        first = fk.first_name_female() if female else fk.first_name_male()
        last = fk.last_name()
        local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isalnum() or ch == ".")
        return {
            "first_name": first,
            "last_name": last,
            "full_name": f"{first} {last}",
            "local": local,
            "salutation": "ms" if female else "mr",
        }

    def address(self, loc: str) -> dict[str, str]:
        fk = self.fakers[loc]
        if loc == ZH:
            return {
                "street": fk.street_address(),
                "city": fk.city_name(),
                "state": fk.province(),
                "postal_code": fk.postcode(),
                "country": "中国",
            }
        return {
            "street": fk.street_address(),
            "city": fk.city(),
            "state": fk.state(),
            "postal_code": fk.postcode(),
            "country": "United States",
        }

    def domain(self, loc: str, company: str) -> str:
        if loc == EN:
            slug = "".join(ch for ch in company.lower().split(",")[0].split(" and ")[0] if ch.isalnum())[:20]
            return f"{slug or self.fakers[EN].domain_word()}.com"
        return self.fakers[ZH].domain_name()

    def in_words(self, loc: str, pair: tuple[str, str]) -> str:
        return pair[1] if loc == ZH else pair[0]

    # -- products -------------------------------------------------------------------------

    def make_products(self) -> None:
        rows, locales = [], []
        for i in range(self.totals["product"]):
            family, unit, en, zh, (lo, hi) = PRODUCT_CATALOG[i % len(PRODUCT_CATALOG)]
            edition = EDITIONS[(i // len(PRODUCT_CATALOG)) % len(EDITIONS)]
            loc = self.locale()
            locales.append(loc)
            name = f"{zh} {edition[1]}" if loc == ZH else f"{en} {edition[0]}"
            if i >= len(PRODUCT_CATALOG) * len(EDITIONS):
                name = f"{name} {i // (len(PRODUCT_CATALOG) * len(EDITIONS)) + 1}"
            price = self.money(lo, hi, 10 if hi < 10_000 else 100)
            code = f"{CODE_PREFIX[family]}-{i + 1:05d}"
            rows.append(
                {
                    "name": self.text("product", "name", name),
                    "product_code": code,
                    "family": self.check("product", "family", family),
                    "list_price": price,
                    "unit_cost": round(price * self.rng.uniform(0.35, 0.7), 2),
                    "unit": self.check("product", "unit", unit),
                    "tax_rate": TAX_RATE[family],
                    "is_active": self.chance(0.9),
                    "description": f"{zh}，适用于中大型企业。"
                    if loc == ZH
                    else f"{en} for mid-size and large companies.",
                    **self.owner(),
                }
            )
        for row, loc, new_id in zip(rows, locales, self.insert("product", rows), strict=True):
            self.products.append(
                {
                    "id": new_id,
                    "price": row["list_price"],
                    "unit": row["unit"],
                    "active": row["is_active"],
                    "name": row["name"],
                    "locale": loc,
                }
            )

    # -- campaign members -------------------------------------------------------------------

    def make_campaign_members(self) -> None:
        """Leads and contacts in the campaigns that have started, each once per
        campaign, with what became of their e-mail (opened, clicked, responded)."""
        started = [c for c in self.campaigns if c["start"] <= self.today] or self.campaigns
        people = [("lead", lead["id"]) for lead in self.leads] + [("contact", c["id"]) for c in self.contacts]
        seen: set[tuple[int, str, int]] = set()
        rows = []
        while len(rows) < self.totals["campaign_member"] and len(seen) < len(started) * len(people):
            campaign = self.rng.choice(started)
            kind, person = self.rng.choice(people)
            if (campaign["id"], kind, person) in seen:
                continue
            seen.add((campaign["id"], kind, person))
            status = self.pick(
                "campaign_member", "status",
                {"planned": 10, "sent": 35, "opened": 25, "clicked": 12, "responded": 10, "unsubscribed": 3,
                 "skipped": 5},
            )  # fmt: skip
            engaged = status in ("opened", "clicked", "responded")
            rows.append(
                {
                    **self.owner(),
                    "campaign": campaign["id"],
                    kind: person,
                    "status": status,
                    "responded": status in ("clicked", "responded"),
                    "sent_at": None
                    if status in ("planned", "skipped")
                    else self.iso(self.moment(min(campaign["start"], self.today), campaign["locale"])),
                    "opens": self.rng.randint(1, 6) if engaged else None,
                    "clicks": self.rng.randint(1, 3) if status in ("clicked", "responded") else None,
                }
            )
        self.insert("campaign_member", rows)

    # -- campaigns ------------------------------------------------------------------------

    def campaign_row(self, parent: dict | None) -> dict[str, Any]:
        loc = parent["locale"] if parent else self.locale()
        if parent:
            ctype = self.pick(
                "campaign",
                "campaign_type",
                {"email": 3, "event": 2, "webinar": 2, "advertisement": 2, "social": 2, "other": 1},
            )
            start = parent["start"] + dt.timedelta(days=self.rng.randint(0, 120))
            end = start + dt.timedelta(
                days=self.rng.randint(1, 60) if ctype in ("event", "webinar") else self.rng.randint(14, 90)
            )
            base = self.in_words(loc, self.rng.choice(CAMPAIGN_NAMES[ctype]))
        else:
            ctype = self.check("campaign", "campaign_type", "other")
            start = self.day(-330, 60)
            end = start + dt.timedelta(days=self.rng.randint(180, 365))
            base = "市场推广计划" if loc == ZH else "Marketing program"
        quarter = f"Q{(start.month - 1) // 3 + 1}"
        name = f"{start.year} {quarter} {base}" if loc == EN else f"{start.year}年{quarter} {base}"
        if end < self.today:
            status = "aborted" if self.chance(0.1) else "completed"
        elif start > self.today:
            status = "planned"
        else:
            status = "active"
        budget = self.money(20_000, 500_000, 1_000) * (3 if parent is None else 1)
        spent = {"completed": (0.7, 1.1), "aborted": (0.1, 0.5), "active": (0.2, 0.7), "planned": (0, 0)}[status]
        return {
            "name": self.text("campaign", "name", name),
            "status": self.check("campaign", "status", status),
            "campaign_type": ctype,
            "start_date": self.iso(start),
            "end_date": self.iso(end),
            "budget": budget,
            "actual_cost": round(budget * self.rng.uniform(*spent), 2) if status != "planned" else None,
            "expected_revenue": self.money(budget * 3, budget * 10, 1_000),
            "expected_response": round(self.rng.uniform(0.5, 15), 1),
            "number_sent": self.rng.randint(2_000, 50_000)
            if ctype in ("email", "social", "advertisement")
            else self.rng.randint(50, 3_000),
            "description": (
                "面向目标行业客户的整合营销活动。"
                if loc == ZH
                else "Integrated campaign aimed at our target industries."
            ),
            **self.owner(),
            "_locale": loc,
            "_start": start,
            "_end": end,
        }

    def make_campaigns(self) -> None:
        total = self.totals["campaign"]
        n_parents = max(1, total // 5) if total > 1 else total
        parents = [self.campaign_row(None) for _ in range(n_parents)]
        self._insert_campaigns(parents)
        rows = []
        for _ in range(total - n_parents):
            parent = self.rng.choice(self.campaigns[:n_parents])
            row = self.campaign_row(parent)
            row["parent_campaign"] = parent["id"]
            rows.append(row)
        self._insert_campaigns(rows)

    def _insert_campaigns(self, rows: list[dict]) -> None:
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        for row, new_id in zip(rows, self.insert("campaign", clean), strict=True):
            self.campaigns.append(
                {
                    "id": new_id,
                    "locale": row["_locale"],
                    "start": row["_start"],
                    "end": row["_end"],
                    "type": row["campaign_type"],
                }
            )

    # -- accounts ---------------------------------------------------------------------------

    def make_accounts(self) -> None:
        total = self.totals["account"]
        n_subsidiaries = round(total * 0.12) if total >= 5 else 0
        names: set[str] = set()
        rows = [self.account_row(i, None, names) for i in range(total - n_subsidiaries)]
        self._insert_accounts(rows)
        parents = list(self.accounts)
        rows = []
        for i in range(total - n_subsidiaries, total):
            rows.append(self.account_row(i, self.rng.choice(parents), names))
        self._insert_accounts(rows)

    def account_row(self, index: int, parent: dict | None, names: set[str]) -> dict[str, Any]:
        loc = parent["locale"] if parent else self.locale()
        fk = self.fakers[loc]
        addr = self.address(loc)
        if parent:
            name = f"{parent['name']}{addr['city']}分公司" if loc == ZH else f"{parent['name']} – {addr['city']}"
        else:
            name = fk.company()
        while name in names:
            name = (
                f"{fk.company_prefix()}{fk.company_suffix()}"
                if loc == ZH
                else f"{fk.last_name()} {fk.company_suffix()}"
            )
        names.add(name)
        employees = int(10 ** self.rng.triangular(1, 4.7, 1.8))
        revenue = self.money(employees * 300_000, employees * 1_500_000, 10_000)
        tier = (
            "strategic" if revenue >= 1e10 else "key" if revenue >= 1.5e9 else "standard" if revenue >= 5e7 else "small"
        )
        account_type = self.pick(
            "account",
            "account_type",
            {"prospect": 35, "customer": 50, "partner": 7, "reseller": 5, "competitor": 1, "other": 2},
        )
        shipping = addr if self.chance(0.7) else self.address(loc)
        domain = self.domain(loc, name)
        industry = (
            parent["industry"]
            if parent
            else self.pick(
                "account", "industry", {"technology": 6, "manufacturing": 5, "retail": 4, "finance": 4, "healthcare": 3}
            )
        )
        need = self.in_words(loc, self.rng.choice(NEEDS))
        industry_label = industry.replace("_", " ")
        row: dict[str, Any] = {
            "name": self.text("account", "name", name),
            "account_number": f"A{100000 + index}" if account_type in ("customer", "partner", "reseller") else None,
            "account_type": account_type,
            "industry": industry,
            "tier": self.check("account", "tier", tier),
            "rating": self.pick("account", "rating", {"hot": 2, "warm": 5, "cold": 3}),
            "source": self.pick("account", "source", {"web": 5, "referral": 4, "event": 3, "partner": 2}),
            "parent_account": parent["id"] if parent else None,
            "annual_revenue": revenue,
            "employees": employees,
            "phone": self.phone(loc),
            "website": f"https://www.{domain}",
            "tags": self.rng.sample(ACCOUNT_TAGS[loc], self.rng.choice((0, 0, 1, 1, 2))),
            **{f"billing_{k}": self.text("account", f"billing_{k}", v) for k, v in addr.items()},
            **{f"shipping_{k}": self.text("account", f"shipping_{k}", v) for k, v in shipping.items()},
            "description": (
                f"主要需求：{need}。" if loc == ZH else f"{industry_label.capitalize()} company; main interest: {need}."
            )
            if self.chance(0.6)
            else None,
            **self.owner(parent),
        }
        row["_locale"], row["_domain"] = loc, domain
        return row

    def _insert_accounts(self, rows: list[dict]) -> None:
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        for row, new_id in zip(rows, self.insert("account", clean), strict=True):
            self.accounts.append(
                {
                    "id": new_id,
                    "name": row["name"],
                    "locale": row["_locale"],
                    "domain": row["_domain"],
                    "industry": row["industry"],
                    "tier": row["tier"],
                    "type": row["account_type"],
                    "owner_id": row.get("owner_id"),
                    "city": row["billing_city"],
                    "state": row["billing_state"],
                    "country": row["billing_country"],
                }
            )

    def weighted_account(self, types: dict[str, float]) -> dict:
        tier_weight = {"strategic": 4, "key": 3, "standard": 2, "small": 1}
        weights = [types.get(a["type"], 0.2) * tier_weight[a["tier"]] for a in self.accounts]
        return self.rng.choices(self.accounts, weights)[0]

    # -- contacts ---------------------------------------------------------------------------

    def make_contacts(self) -> None:
        total = self.totals["contact"]
        # Every account gets its first (senior) contact in the first batch, as long as contacts last;
        # the rest report to that contact half of the time.
        accounts = self.accounts[:]
        self.rng.shuffle(accounts)
        n_leaders = min(total, len(accounts))
        leaders = [self.contact_row(accounts[i], senior=True) for i in range(n_leaders)]
        self._insert_contacts(leaders)
        rows = []
        for _ in range(total - n_leaders):
            account = self.weighted_account({"customer": 3, "prospect": 2, "partner": 1, "reseller": 1})
            row = self.contact_row(account if self.chance(0.95) else None, senior=False)
            bosses = self.contacts_by_account.get(account["id"]) if row["account"] else None
            if bosses and self.chance(0.5):
                row["reports_to"] = bosses[0]["id"]
            rows.append(row)
        self._insert_contacts(rows)

    def contact_row(self, account: dict | None, senior: bool) -> dict[str, Any]:
        loc = account["locale"] if account and self.chance(0.9) else self.locale()
        p = self.person(loc)
        job = self.rng.choice(JOBS[:SENIOR_JOBS] if senior else JOBS[SENIOR_JOBS:])
        title, dept = (job[2], job[3]) if loc == ZH else (job[0], job[1])
        domain = account["domain"] if account else self.rng.choice(EMAIL_DOMAINS[loc])
        channels = ["wechat", "phone", "email", "in_person"] if loc == ZH else ["email", "phone", "sms", "in_person"]
        addr = (
            {
                "street": None,
                "city": account["city"],
                "state": account["state"],
                "postal_code": None,
                "country": account["country"],
            }
            if account
            else self.address(loc)
        )
        birthdate = self.today - dt.timedelta(days=self.rng.randint(25 * 365, 60 * 365)) if self.chance(0.5) else None
        row: dict[str, Any] = {
            "salutation": self.check("contact", "salutation", "dr" if self.chance(0.05) else p["salutation"]),
            "first_name": self.text("contact", "first_name", p["first_name"]),
            "last_name": self.text("contact", "last_name", p["last_name"]),
            "full_name": self.text("contact", "full_name", p["full_name"]),
            "account": account["id"] if account else None,
            "title": title,
            "department": dept,
            "email": f"{p['local']}@{domain}",
            "phone": self.phone(loc),
            "mobile": self.phone(loc, mobile=True),
            "wechat_id": f"{p['local'].replace('.', '_')}{self.rng.randint(1, 999)}"
            if loc == ZH and self.chance(0.6)
            else None,
            "preferred_channels": self.sample("contact", "preferred_channels", channels, 2),
            "lead_source": self.pick("contact", "lead_source", {"web": 4, "referral": 3, "event": 3}),
            "birthdate": self.iso(birthdate) if birthdate else None,
            "do_not_call": self.chance(0.05),
            "email_opt_out": self.chance(0.08),
            **{f"mailing_{k}": (self.text("contact", f"mailing_{k}", v) if v else None) for k, v in addr.items()},
            "description": None,
            **self.owner(account),
        }
        row["_locale"] = loc
        return row

    def _insert_contacts(self, rows: list[dict]) -> None:
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        for row, new_id in zip(rows, self.insert("contact", clean), strict=True):
            contact = {
                "id": new_id,
                "account": row["account"],
                "locale": row["_locale"],
                "full_name": row["full_name"],
                "first_name": row["first_name"],
                "last_name": row["last_name"],
                "salutation": row["salutation"],
                "email": row["email"],
                "phone": row["phone"],
                "mobile": row["mobile"],
                "title": row["title"],
                "owner_id": row.get("owner_id"),
            }
            self.contacts.append(contact)
            if row["account"]:
                self.contacts_by_account.setdefault(row["account"], []).append(contact)

    # -- opportunities ----------------------------------------------------------------------

    def make_opportunities(self) -> None:
        rows = [self.opportunity_row() for _ in range(self.totals["opportunity"])]
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        for row, new_id in zip(rows, self.insert("opportunity", clean), strict=True):
            self.opportunities.append(
                {
                    "id": new_id,
                    "account": row["account"],
                    "contact": row["contact"],
                    "locale": row["_locale"],
                    "stage": row["stage"],
                    "owner_id": row.get("owner_id"),
                    "created": row["_created"],
                    "lead_source": row["lead_source"],
                    "campaign": row["campaign"],
                    "name": row["name"],
                    "close_date": row["close_date"],
                }
            )

    def opportunity_row(self) -> dict[str, Any]:
        account = self.weighted_account({"customer": 4, "prospect": 3, "partner": 1, "reseller": 1})
        loc = account["locale"]
        contacts = self.contacts_by_account.get(account["id"], [])
        contact = self.rng.choice(contacts) if contacts else None
        if account["type"] == "customer":
            otype = self.pick(
                "opportunity",
                "opportunity_type",
                {"new_business": 1, "existing_business": 3, "renewal": 3, "upsell": 3},
            )
        else:
            otype = self.check("opportunity", "opportunity_type", "new_business")
        topic = self.in_words(loc, self.rng.choice(DEAL_TOPICS[otype]))
        stage = self.pick(
            "opportunity",
            "stage",
            {
                "prospecting": 20,
                "qualification": 18,
                "proposal": 15,
                "negotiation": 12,
                "closed_won": 20,
                "closed_lost": 15,
            },
        )
        closed = stage.startswith("closed_")
        # Open opportunities close in the future (validation rule close_date_not_past).
        close_date = self.day(-182, 0) if closed else self.day(1, 182)
        created = min(close_date - dt.timedelta(days=self.rng.randint(14, 120)), self.today)
        active = [p for p in self.products if p["active"]] or self.products
        chosen = self.rng.sample(active, min(len(active), self.rng.choice((1, 1, 2, 2, 3))))
        amount = 0.0
        for product in chosen:
            qty = {
                "hour": self.rng.randint(8, 200),
                "day": self.rng.randint(2, 40),
                "month": self.rng.randint(12, 36) * self.rng.randint(5, 100),
            }.get(product["unit"], self.rng.randint(1, 50))
            amount += product["price"] * qty
        campaign = None
        started = [c for c in self.campaigns if c["start"] <= created] if self.chance(0.3) else []
        if started:
            campaign = self.rng.choice(started)
        lead_source = (
            self.check("opportunity", "lead_source", CAMPAIGN_SOURCE[campaign["type"]])
            if campaign
            else self.pick("opportunity", "lead_source", {"referral": 4, "web": 3, "partner": 2})
        )
        row: dict[str, Any] = {
            "name": self.text("opportunity", "name", f"{account['name']} - {topic}"),
            "account": account["id"],
            "contact": contact["id"] if contact else None,
            "opportunity_type": otype,
            "stage": stage,
            "probability": STAGE_PROBABILITY[stage],
            "amount": round(amount * self.rng.uniform(0.8, 1.0), -2) or 1000.0,
            "close_date": self.iso(close_date),
            "forecast_category": self.check("opportunity", "forecast_category", STAGE_FORECAST[stage]),
            "lead_source": lead_source,
            "campaign": campaign["id"] if campaign else None,
            "products": [p["id"] for p in chosen],
            "next_step": None if closed else self.in_words(loc, self.rng.choice(NEXT_STEPS)),
            "competitor": self.rng.choice(COMPETITORS) if self.chance(0.4) else None,
            "loss_reason": self.pick(
                "opportunity", "loss_reason", {"price": 4, "competitor": 4, "no_budget": 2, "no_decision": 2}
            )
            if stage == "closed_lost"
            else None,
            "description": None,
            **self.owner(account, keep=0.9),
        }
        row["_locale"], row["_created"] = loc, created
        return row

    # -- leads ------------------------------------------------------------------------------

    def make_leads(self) -> None:
        total = self.totals["lead"]
        convertible = [o for o in self.opportunities if o["contact"] and o["stage"] != "prospecting"]
        self.rng.shuffle(convertible)
        rows = []
        for _ in range(total):
            status = self.pick(
                "lead", "status", {"new": 25, "contacted": 25, "qualified": 15, "unqualified": 15, "converted": 20}
            )
            if status == "converted" and not convertible:
                status = "qualified"
            rows.append(self.lead_row(status, convertible.pop() if status == "converted" else None))
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        for row, new_id in zip(rows, self.insert("lead", clean), strict=True):
            self.leads.append(
                {"id": new_id, "locale": row["_locale"], "owner_id": row.get("owner_id"), "status": row["status"]}
            )

    def lead_row(self, status: str, opportunity: dict | None) -> dict[str, Any]:
        score_range = {
            "new": (0, 60),
            "contacted": (20, 70),
            "qualified": (60, 100),
            "unqualified": (0, 40),
            "converted": (70, 100),
        }.get(status, (0, 100))
        score = self.rng.randint(*score_range)
        rating = "hot" if score >= 70 else "warm" if score >= 40 else "cold"
        row: dict[str, Any]
        if opportunity:
            account = next(a for a in self.accounts if a["id"] == opportunity["account"])
            contact = next(c for c in self.contacts if c["id"] == opportunity["contact"])
            loc = contact["locale"]
            converted_at = self.moment(max(opportunity["created"], self.today - dt.timedelta(days=365)), loc)
            row = {
                "salutation": contact["salutation"],
                "first_name": contact["first_name"],
                "last_name": contact["last_name"],
                "full_name": contact["full_name"],
                "company": self.text("lead", "company", account["name"]),
                "title": contact["title"],
                "email": contact["email"],
                "phone": contact["phone"],
                "mobile": contact["mobile"],
                "website": f"https://www.{account['domain']}",
                "source": self.check("lead", "source", opportunity["lead_source"]),
                "campaign": opportunity["campaign"],
                "industry": account["industry"],
                "city": account["city"],
                "state": account["state"],
                "country": account["country"],
                "converted_account": account["id"],
                "converted_contact": contact["id"],
                "converted_opportunity": opportunity["id"],
                "converted_at": self.iso(min(converted_at, self.now)),
                **self.owner(opportunity, keep=1.0),
            }
        else:
            loc = self.locale()
            fk = self.fakers[loc]
            p = self.person(loc)
            company = fk.company()
            domain = self.domain(loc, company)
            job = self.rng.choice(JOBS)
            addr = self.address(loc)
            campaign = self.rng.choice(self.campaigns) if self.campaigns and self.chance(0.35) else None
            row = {
                "salutation": self.check("lead", "salutation", p["salutation"]),
                "first_name": self.text("lead", "first_name", p["first_name"]),
                "last_name": self.text("lead", "last_name", p["last_name"]),
                "full_name": self.text("lead", "full_name", p["full_name"]),
                "company": self.text("lead", "company", company),
                "title": job[2] if loc == ZH else job[0],
                "email": f"{p['local']}@{domain}",
                "phone": self.phone(loc) if self.chance(0.6) else None,
                "mobile": self.phone(loc, mobile=True) if self.chance(0.7) else None,
                "website": f"https://www.{domain}" if self.chance(0.5) else None,
                "source": (
                    self.check("lead", "source", CAMPAIGN_SOURCE[campaign["type"]])
                    if campaign
                    else self.pick(
                        "lead",
                        "source",
                        {
                            "web": 5,
                            "referral": 2,
                            "event": 2,
                            "advertisement": 2,
                            "cold_call": 2,
                            "partner": 1,
                            "social_media": 2,
                        },
                    )
                ),
                "campaign": campaign["id"] if campaign else None,
                "industry": self.pick("lead", "industry"),
                "city": self.text("lead", "city", addr["city"]),
                "state": self.text("lead", "state", addr["state"]),
                "country": addr["country"],
                "unqualified_reason": self.pick("lead", "unqualified_reason") if status == "unqualified" else None,
                **self.owner(),
            }
        employees = int(10 ** self.rng.uniform(1, 4))
        row.update(
            {
                "status": self.check("lead", "status", status),
                "rating": self.check("lead", "rating", rating),
                "score": score,
                "employees": employees,
                "annual_revenue": self.money(employees * 300_000, employees * 1_500_000, 10_000)
                if self.chance(0.5)
                else None,
                "description": (
                    f"对{self.in_words(loc, self.rng.choice(NEEDS))}感兴趣。"
                    if loc == ZH
                    else f"Interested in {self.in_words(loc, self.rng.choice(NEEDS))}."
                )
                if self.chance(0.4)
                else None,
            }
        )
        row["_locale"] = loc
        return row

    # -- knowledge base ---------------------------------------------------------------------

    def make_articles(self) -> None:
        rows, meta = [], []
        for category, answers, keywords, en, zh in ARTICLES:
            for loc, (title, body) in ((EN, en), (ZH, zh)):
                rows.append(
                    {
                        "title": title,
                        "category": category,
                        "language": "zh_cn" if loc == ZH else "en",
                        "status": "published",
                        "keywords": keywords,
                        "body": body,
                        "published_at": self.iso(self.now - dt.timedelta(days=self.rng.randint(30, 300))),
                        **self.owner(),
                    }
                )
                meta.append((answers, loc))
        rows, meta = rows[: self.totals["article"]], meta[: self.totals["article"]]
        for (answers, loc), new_id in zip(meta, self.insert("article", rows), strict=True):
            self.articles.append({"id": new_id, "answers": answers, "locale": loc})

    # -- cases ------------------------------------------------------------------------------

    def make_cases(self) -> None:
        rows = [self.case_row() for _ in range(self.totals["case"])]
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        for row, new_id in zip(rows, self.insert("case", clean), strict=True):
            self.cases.append(
                {
                    "id": new_id,
                    "account": row["account"],
                    "contact": row["contact"],
                    "locale": row["_locale"],
                    "owner_id": row.get("owner_id"),
                    "opened": row["_opened"],
                }
            )

    def case_row(self) -> dict[str, Any]:
        account = self.weighted_account({"customer": 10, "partner": 2, "reseller": 2})
        loc = account["locale"]
        contacts = self.contacts_by_account.get(account["id"], [])
        contact = self.rng.choice(contacts) if contacts else None
        product = self.rng.choice(self.products) if self.products and self.chance(0.6) else None
        status = self.pick("case", "status", {"new": 15, "working": 25, "escalated": 8, "on_hold": 7, "closed": 45})
        priority = self.pick("case", "priority", {"low": 25, "medium": 40, "high": 25, "urgent": 10})
        category = self.pick(
            "case", "category", {"question": 4, "problem": 5, "feature_request": 2, "complaint": 2, "other": 1}
        )
        subject = self.in_words(loc, self.rng.choice(CASE_SUBJECTS[category]))
        if product and product["locale"] == loc:
            subject = f"{subject}（{product['name']}）" if loc == ZH else f"{subject} ({product['name']})"
        sla = dt.timedelta(hours=SLA_HOURS[priority])
        opened = self.moment(self.day(-60 if status == "closed" else -20, 0), loc, 8, 20)
        opened = min(opened, self.now - dt.timedelta(hours=1))
        first_response = None
        if status != "new":
            first_response = min(opened + sla * self.rng.uniform(0.05, 0.6), self.now)
        closed_at = None
        if status == "closed":
            closed_at = min(opened + dt.timedelta(hours=self.rng.uniform(1, 24 * 10)), self.now)
            closed_at = max(closed_at, first_response or opened)
        resolution = self.in_words(loc, self.rng.choice(RESOLUTIONS[category])) if status == "closed" else None
        detail = (
            f"客户反馈：{subject}。请尽快跟进处理。"
            if loc == ZH
            else f"The customer reports: {subject}. Please follow up."
        )
        row: dict[str, Any] = {
            "subject": self.text("case", "subject", subject),
            "status": status,
            "priority": priority,
            "origin": self.pick(
                "case", "origin", {"phone": 3, "email": 4, "web": 2, "chat": 2, "wechat": 3 if loc == ZH else 0}
            ),
            "category": category,
            "account": account["id"],
            "contact": contact["id"] if contact else None,
            "product": product["id"] if product else None,
            "due_at": self.iso(opened + sla),
            "first_response_at": self.iso(first_response) if first_response else None,
            "closed_at": self.iso(closed_at) if closed_at else None,
            "escalated": status == "escalated" or (status == "closed" and self.chance(0.1)),
            "satisfaction": self.pick(
                "case",
                "satisfaction",
                {"very_satisfied": 4, "satisfied": 5, "neutral": 2, "dissatisfied": 1, "very_dissatisfied": 0.5},
            )
            if status == "closed" and self.chance(0.7)
            else None,
            "description": detail,
            "resolution": resolution,
            **self.owner(account, keep=0.3),
        }
        row.update(self.service_levels(priority, opened, first_response, closed_at))
        answers = [a["id"] for a in self.articles if a["answers"] == category and a["locale"] == loc]
        if status == "closed" and answers and self.chance(0.5):
            row["articles"] = [self.rng.choice(answers)]
        row["_locale"], row["_opened"] = loc, opened
        return row

    def service_levels(self, priority: str, opened, first_response, closed_at) -> dict[str, Any]:
        """The measured times and SLA flags the case automations keep (the
        demo's cases were opened in the past, so they are worked out here)."""

        def hours(end) -> float:
            return round((end - opened).total_seconds() / 3600, 2)

        responded = hours(first_response) if first_response else None
        resolved = hours(closed_at) if closed_at else None
        waited = hours(self.now)
        return {
            "first_response_hours": responded,
            "resolution_hours": resolved,
            "response_breached": (responded if responded is not None else waited) > RESPONSE_HOURS[priority],
            "resolution_breached": (resolved if resolved is not None else waited) > SLA_HOURS[priority],
        }

    # -- activities ---------------------------------------------------------------------------

    def make_activities(self) -> None:
        rows = [self.activity_row() for _ in range(self.totals["activity"])]
        self.insert("activity", rows)

    def activity_row(self) -> dict[str, Any]:
        kinds = {"opportunity": 35, "account": 20, "contact": 20, "lead": 15, "case": 10}
        pools = {
            "opportunity": self.opportunities,
            "account": self.accounts,
            "contact": self.contacts,
            "lead": self.leads,
            "case": self.cases,
        }
        kind = self.rng.choices(list(kinds), [kinds[k] if pools[k] else 0 for k in kinds])[0]
        parent = self.rng.choice(pools[kind])
        links: dict[str, Any] = {
            "account": None,
            "contact": None,
            "lead": None,
            "opportunity": None,
            "related_case": None,
        }
        if kind == "opportunity":
            links.update(opportunity=parent["id"], account=parent["account"], contact=parent["contact"])
        elif kind == "account":
            contacts = self.contacts_by_account.get(parent["id"], [])
            links.update(
                account=parent["id"], contact=self.rng.choice(contacts)["id"] if contacts and self.chance(0.5) else None
            )
        elif kind == "contact":
            links.update(contact=parent["id"], account=parent["account"])
        elif kind == "lead":
            links.update(lead=parent["id"])
        else:
            links.update(related_case=parent["id"], account=parent["account"], contact=parent["contact"])
        loc = parent["locale"]
        atype = self.pick("activity", "activity_type", {"task": 30, "call": 25, "meeting": 20, "email": 15, "note": 10})
        subject = self.in_words(loc, self.rng.choice(ACTIVITY_SUBJECTS[atype]))
        earliest = -90 if kind != "case" else max(-90, (parent["opened"].date() - self.today).days)
        day = self.day(earliest, 30)
        if atype in ("note", "email"):
            day = min(day, self.today)
        if day > self.today:
            status = "open"
        elif atype in ("note", "email"):
            status = "completed"
        else:
            status = self.rng.choices(["completed", "open", "cancelled"], [80, 15, 5])[0]
        start = end = location = duration = call_result = None
        if atype in ("meeting", "call"):
            start = self.moment(day, loc, 9, 17)
            duration = self.rng.choice((30, 45, 60, 90, 120)) if atype == "meeting" else self.rng.randint(2, 45)
            end = start + dt.timedelta(minutes=duration)
            if atype == "meeting":
                location = self.rng.choice(MEETING_PLACES[loc])
            elif status == "completed":
                call_result = self.pick(
                    "activity",
                    "call_result",
                    {"connected": 6, "no_answer": 2, "left_voicemail": 2, "wrong_number": 0.3},
                )
            if status != "completed":
                duration = None
        completed_at = None
        if status == "completed":
            completed_at = min(end or self.moment(day, loc, 9, 19), self.now)
        return {
            "subject": self.text("activity", "subject", subject),
            "activity_type": atype,
            "status": self.check("activity", "status", status),
            "priority": self.pick("activity", "priority", {"low": 2, "normal": 6, "high": 2}),
            "due_date": self.iso(day),
            "start_at": self.iso(start) if start else None,
            "end_at": self.iso(end) if end else None,
            "location": location,
            "duration_minutes": duration,
            "call_result": call_result,
            **links,
            "related_object": kind,
            "related_record_id": parent["id"],
            "completed_at": self.iso(completed_at) if completed_at else None,
            "description": None,
            **self.owner(parent, keep=0.9),
        }

    # -- lead to cash -----------------------------------------------------------------------

    def insert_derived(self, obj: str, rows: list[dict[str, Any]]) -> list[int]:
        """Insert rows of an object whose count follows from other records (no base count)."""
        self.totals[obj] = self.totals.get(obj, 0) + len(rows)
        self.created.setdefault(obj, 0)
        return self.insert(obj, rows) if rows else []

    def lines(self, loc: str) -> list[dict[str, Any]]:
        """One to three product lines (product, quantity, list price, discount) of a deal."""
        offered = [p for p in self.products if p["active"] and p["price"]] or self.products
        chosen = self.rng.sample(offered, min(len(offered), self.rng.randint(1, 3)))
        return [
            {
                "product": p["id"],
                "quantity": self.rng.choice((1, 2, 3, 5, 10, 20)),
                "list_price": p["price"],
                "discount": self.rng.choice((0, 0, 0, 5, 10, 15)),
            }
            for p in chosen
        ]

    @staticmethod
    def line_total(lines: list[dict[str, Any]]) -> float:
        return round(sum(x["quantity"] * (x["list_price"] or 0) * (1 - x["discount"] / 100) for x in lines), 2)

    def make_lead_to_cash(self) -> None:
        """Opportunity products and quotes for deals in proposal or negotiation; for
        won deals an order with its lines, a contract, two instalments, the money
        received so far and the invoices issued for it."""
        [book] = self.insert_derived(
            "price_book", [{"name": "Standard price book", "is_standard": True, **self.owner()}]
        )
        self.insert_derived(
            "price_book_entry",
            [{"price_book": book, "product": p["id"], "list_price": p["price"]} for p in self.products if p["price"]],
        )
        quoting = [o for o in self.opportunities if o["stage"] in ("proposal", "negotiation")]
        won = [o for o in self.opportunities if o["stage"] == "closed_won"]
        quoting = quoting[: max(1, round(len(quoting) * 0.5))]
        won = won[: max(1, round(len(won) * 0.5))]
        deal_lines: dict[int, list[dict[str, Any]]] = {o["id"]: self.lines(o["locale"]) for o in quoting + won}
        self.insert_derived(
            "opportunity_line_item",
            [
                {**line, "opportunity": o["id"], **self.owner(o, keep=1)}
                for o in quoting + won
                for line in deal_lines[o["id"]]
            ],
        )
        quotes = [
            {
                "name": self.text("quote", "name", o["name"]),
                "opportunity": o["id"],
                "account": o["account"],
                "contact": o["contact"],
                "status": self.rng.choice(("draft", "sent", "sent")),
                "valid_until": self.iso(self.today + dt.timedelta(days=self.rng.randint(5, 40))),
                **self.owner(o, keep=1),
            }
            for o in quoting
        ]
        quote_ids = self.insert_derived("quote", quotes)
        self.insert_derived(
            "quote_line",
            [
                {**line, "quote": quote_id, **self.owner(o, keep=1)}
                for o, quote_id in zip(quoting, quote_ids, strict=True)
                for line in deal_lines[o["id"]]
            ],
        )
        self.make_orders(won, deal_lines)

    def make_orders(self, won: list[dict[str, Any]], deal_lines: dict[int, list[dict[str, Any]]]) -> None:
        contracts = []
        for o in won:
            start = dt.date.fromisoformat(o["close_date"])
            contracts.append(
                {
                    "name": self.text("contract", "name", o["name"]),
                    "account": o["account"],
                    "status": "active" if start + dt.timedelta(days=365) > self.today else "expired",
                    "start_date": self.iso(start),
                    "term_months": 12,
                    **self.owner(o, keep=1),
                }
            )
        contract_ids = self.insert_derived("contract", contracts)
        orders = [
            {
                "name": self.text("sales_order", "name", o["name"]),
                "account": o["account"],
                "contact": o["contact"],
                "opportunity": o["id"],
                "contract": contract_id,
                "status": "activated",
                "order_date": o["close_date"],
                **self.owner(o, keep=1),
            }
            for o, contract_id in zip(won, contract_ids, strict=True)
        ]
        order_ids = self.insert_derived("sales_order", orders)
        self.insert_derived(
            "order_line",
            [
                {**line, "sales_order": order_id, **self.owner(o, keep=1)}
                for o, order_id in zip(won, order_ids, strict=True)
                for line in deal_lines[o["id"]]
            ],
        )
        plans, due = [], []
        for o, order_id in zip(won, order_ids, strict=True):
            total = self.line_total(deal_lines[o["id"]])
            ordered = dt.date.fromisoformat(o["close_date"])
            first = round(total / 2, 2)
            for days, amount in ((30, first), (90, round(total - first, 2))):
                if amount > 0:
                    day = ordered + dt.timedelta(days=days)
                    plans.append(
                        {"sales_order": order_id, "due_date": self.iso(day), "amount": amount, **self.owner(o, keep=1)}
                    )
                    due.append((o, order_id, day, amount))
        plan_ids = self.insert_derived("payment_plan", plans)
        payments = []
        for (o, order_id, day, amount), plan_id in zip(due, plan_ids, strict=True):
            if day > self.today or self.chance(0.15):
                continue  # not due yet, or overdue
            paid = amount if self.chance(0.8) else round(amount / 2, 2)
            received = min(day + dt.timedelta(days=self.rng.randint(-5, 10)), self.today)
            payments.append(
                {
                    "sales_order": order_id,
                    "payment_plan": plan_id,
                    "amount": paid,
                    "received_date": self.iso(received),
                    "method": self.pick("payment", "method", {"bank_transfer": 8, "cheque": 1, "card": 1}),
                    **self.owner(o, keep=1),
                }
            )
        payment_ids = self.insert_derived("payment", payments)
        self.insert_derived(
            "invoice",
            [
                {
                    "sales_order": payment["sales_order"],
                    "payment": payment_id,
                    "amount": payment["amount"],
                    "tax_rate": 13,
                    "status": "issued",
                    "invoice_date": payment["received_date"],
                    **({"owner_id": payment["owner_id"]} if "owner_id" in payment else {}),
                }
                for payment, payment_id in zip(payments, payment_ids, strict=True)
                if self.chance(0.8)
            ],
        )


# -- quotas ------------------------------------------------------------------------------


def quarter_starts(today: dt.date, before: int = 2, after: int = 2) -> list[dt.date]:
    """First days of the calendar quarters from ``before`` quarters before
    today's to ``after`` quarters after it (the demo's close dates lie within
    six months of today)."""
    index = today.year * 4 + (today.month - 1) // 3
    return [dt.date(i // 4, (i % 4) * 3 + 1, 1) for i in range(index - before, index + after + 1)]


def generate_quotas(create: Create, *, owner_ids: list[int], today: dt.date | None = None, seed: int = 42) -> int:
    """A quarterly quota per owner for the quarters around today (the
    forecast's targets); the owner of a quota is the user it is for. Returns
    how many were made (none without owners: a quota is nobody's then)."""
    today = today or dt.date.today()
    rng = random.Random(seed)
    rows = []
    for owner_id in owner_ids:
        base = rng.randrange(300, 900) * 1000
        for start in quarter_starts(today):
            quarter = (start.month - 1) // 3 + 1
            rows.append(
                {
                    "name": f"{start.year}-Q{quarter}",
                    "period_type": "quarter",
                    "period_start": start.isoformat(),
                    "amount": base + rng.randrange(0, 10) * 10_000,
                    "owner_id": owner_id,
                }
            )
    for begin in range(0, len(rows), CHUNK_SIZE):
        create("quota", rows[begin : begin + CHUNK_SIZE])
    return len(rows)
