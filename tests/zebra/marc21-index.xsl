<?xml version="1.0" encoding="UTF-8"?>
<!-- MARC21 records to Zebra indexes (names as in bib1.att). -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:m="http://www.loc.gov/MARC21/slim" xmlns:z="http://indexdata.com/zebra-2.0"
    exclude-result-prefixes="m">
  <xsl:include href="common-index.xsl"/>
  <xsl:output method="xml" indent="yes" encoding="UTF-8"/>

  <xsl:template match="/m:record">
    <z:record z:id="{m:controlfield[@tag='001']}" z:type="update">
      <xsl:for-each select="m:datafield[@tag='020']/m:subfield[@code='a' or @code='z'] | m:datafield[@tag='773']/m:subfield[@code='z']">
        <z:index name="ISBN:w"><xsl:call-template name="clean-isbn"><xsl:with-param name="s" select="."/></xsl:call-template></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='245' or @tag='246' or @tag='130' or @tag='240' or @tag='740'] | m:datafield[@tag='880'][starts-with(m:subfield[@code='6'], '245') or starts-with(m:subfield[@code='6'], '246')]">
        <xsl:call-template name="index">
          <xsl:with-param name="name">Title:w Title:p Title:s</xsl:with-param>
          <xsl:with-param name="value"><xsl:for-each select="m:subfield[@code='a' or @code='b' or @code='n' or @code='p']"><xsl:value-of select="."/><xsl:text> </xsl:text></xsl:for-each></xsl:with-param>
        </xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='100' or @tag='110' or @tag='111' or @tag='700' or @tag='710' or @tag='711'] | m:datafield[@tag='880'][starts-with(m:subfield[@code='6'], '100') or starts-with(m:subfield[@code='6'], '700')]">
        <xsl:call-template name="index">
          <xsl:with-param name="name">Author:w Author:p</xsl:with-param>
          <xsl:with-param name="value" select="m:subfield[@code='a']"/>
        </xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='260' or (@tag='264' and @ind2='1')]/m:subfield[@code='b']">
        <xsl:call-template name="index"><xsl:with-param name="name">Publisher:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:variable name="d008" select="substring(m:controlfield[@tag='008'], 8, 4)"/>
      <xsl:choose>
        <xsl:when test="string-length(translate($d008, '0123456789', '')) = 0 and string-length($d008) = 4">
          <z:index name="Date-of-publication:w Date-of-publication:n Date-of-publication:s"><xsl:value-of select="$d008"/></z:index>
        </xsl:when>
        <xsl:otherwise>
          <xsl:for-each select="(m:datafield[@tag='264' and @ind2='1'] | m:datafield[@tag='260'])[1]/m:subfield[@code='c']">
            <z:index name="Date-of-publication:w Date-of-publication:n Date-of-publication:s"><xsl:value-of select="substring(translate(., translate(., '0123456789', ''), ''), 1, 4)"/></z:index>
          </xsl:for-each>
        </xsl:otherwise>
      </xsl:choose>
      <xsl:for-each select="m:controlfield[@tag='001'] | m:datafield[@tag='999']/m:subfield[@code='c']">
        <z:index name="Local-number:w Local-number:0"><xsl:value-of select="."/></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='852' or @tag='952']/m:subfield[@code='p']">
        <z:index name="Stock-number:w Stock-number:0"><xsl:value-of select="."/></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='852']">
        <xsl:call-template name="index"><xsl:with-param name="name">Number-local-call:w</xsl:with-param><xsl:with-param name="value" select="concat(m:subfield[@code='h'], ' ', m:subfield[@code='i'])"/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='952']/m:subfield[@code='o']">
        <xsl:call-template name="index"><xsl:with-param name="name">Number-local-call:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='084']/m:subfield[@code='a']">
        <xsl:call-template name="index"><xsl:with-param name="name">Local-classification:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='300']/m:subfield[@code='a' or @code='e'] | m:datafield[@tag='337' or @tag='338']/m:subfield[@code='a']">
        <xsl:call-template name="index"><xsl:with-param name="name">Material-type:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='773']/m:subfield[@code='w']">
        <xsl:variable name="w" select="normalize-space(.)"/>
        <z:index name="Host-item:w"><xsl:choose><xsl:when test="starts-with($w, '(')"><xsl:value-of select="substring-after($w, ')')"/></xsl:when><xsl:otherwise><xsl:value-of select="$w"/></xsl:otherwise></xsl:choose></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='773']/m:subfield[@code='t']">
        <xsl:call-template name="index"><xsl:with-param name="name">Host-item:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[starts-with(@tag, '5')]/m:subfield[@code='a']">
        <xsl:call-template name="index"><xsl:with-param name="name">Note:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[starts-with(@tag, '6')]/m:subfield">
        <xsl:call-template name="index"><xsl:with-param name="name">Subject-heading:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield/m:subfield | m:controlfield[@tag='001']">
        <xsl:call-template name="index"><xsl:with-param name="name">Any:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
    </z:record>
  </xsl:template>
</xsl:stylesheet>
